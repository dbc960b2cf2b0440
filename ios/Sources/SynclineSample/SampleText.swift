// The sample app's own words (the banner's and the record marks' are BannerText's): every text
// its models and views show, from `Resources/*.lproj/Localizable.strings` in English and German.
// Keys are written out in full (`"sample_…"`) wherever they are used, never built from parts, so
// the Linux test that reads the sources finds every one and holds the tables to them.
import Foundation
import SynclineCore

/// The sample's strings: `text("sample_keep_mine")`, `text("sample_conflicts_link", 3)`; the
/// entity and field names the user reads instead of the schema's, the server's rejection codes
/// in words, and the reasons a typed value does not fit.
public struct SampleText: Sendable {
    /// The format for a key; a table without it returns the key itself (as
    /// `Bundle.localizedString` does), so a missing string shows up instead of going blank.
    public let lookup: @Sendable (String) -> String

    /// Words from `lookup`.
    public init(lookup: @escaping @Sendable (String) -> String) {
        self.lookup = lookup
    }

    /// Words from the sample's tables in the language the app runs in.
    public init() {
        self.init(bundle: .module)
    }

    /// Words from the sample's table for `localization` ("de"), whatever language the app runs
    /// in. Nil when there is no such table.
    public init?(localization: String) {
        guard let path = Bundle.module.path(forResource: localization, ofType: "lproj"),
              let bundle = Bundle(path: path) else { return nil }
        self.init(bundle: bundle)
    }

    private init(bundle: Bundle) {
        self.init { key in bundle.localizedString(forKey: key, value: nil, table: nil) }
    }

    /// The string `key` with `args` in its placeholders (`%@` for text, `%lld` for an `Int64`).
    /// A format without placeholders is returned as is.
    public func callAsFunction(_ key: String, _ args: CVarArg...) -> String {
        let format = lookup(key)
        return args.isEmpty ? format : String(format: format, arguments: args)
    }

    /// The name users read for an entity of the sample's schema ("Task" for `tasks`); the
    /// entity's own name for one the sample does not know.
    public func entityName(_ entity: String) -> String {
        switch entity {
        case "tasks": return self("sample_entity_task")
        case "comments": return self("sample_entity_comment")
        case "projects": return self("sample_entity_project")
        default: return entity
        }
    }

    /// The label users read for a field of the sample's schema ("Due" for `due_at`); the field's
    /// own name for one the sample does not know.
    public func fieldName(_ field: String) -> String {
        switch field {
        case "project_id": return self("sample_field_project")
        case "task_id": return self("sample_field_task")
        case "title": return self("sample_field_title")
        case "notes": return self("sample_field_notes")
        case "done": return self("sample_field_done")
        case "priority": return self("sample_field_priority")
        case "due_at": return self("sample_field_due")
        case "assignee": return self("sample_field_assignee")
        case "estimate_hours": return self("sample_field_estimate_hours")
        case "tags": return self("sample_field_tags")
        case "body": return self("sample_field_body")
        default: return field
        }
    }

    /// A record as a heading: "Task · Inspect pump".
    public func heading(entity: String, title: String) -> String {
        self("sample_record_heading", entityName(entity), title)
    }

    /// The server's rejection code in words (docs/protocol.md lists them); a general sentence
    /// for a code this version does not know (the server's own message is shown as the detail).
    public func rejection(code: String) -> String {
        switch code {
        case "forbidden": return self("sample_rejected_forbidden")
        case "not_found": return self("sample_rejected_not_found")
        case "invalid_value": return self("sample_rejected_invalid_value")
        case "read_only", "read_only_field": return self("sample_rejected_read_only")
        case "append_only": return self("sample_rejected_append_only")
        case "unknown_entity", "unknown_field": return self("sample_rejected_unknown")
        default: return self("sample_rejected_other")
        }
    }

    /// Why a typed value does not fit, with the field's name: "Priority: “high” is not a whole
    /// number".
    public func fieldError(_ error: FieldTextError) -> String {
        let problem: String
        switch error.problem {
        case .required: problem = self("sample_problem_required")
        case .titleNeeded: problem = self("sample_problem_title_needed")
        case .notWholeNumber(let typed): problem = self("sample_problem_not_whole_number", typed)
        case .notNumber(let typed): problem = self("sample_problem_not_number", typed)
        case .notBoolean(let typed): problem = self("sample_problem_not_boolean", typed)
        case .notDate(let typed): problem = self("sample_problem_not_date", typed)
        case .notJSON(let typed): problem = self("sample_problem_not_json", typed)
        case .fileField: problem = self("sample_problem_file_field")
        }
        return self("sample_field_error", fieldName(error.field), problem)
    }

    /// Why an action failed, for the screen's error line: a value that does not fit in the
    /// user's words; anything else (the core's typed error) as "That did not work: …", with the
    /// core's description as the detail.
    public func actionFailed(_ error: Error) -> String {
        if let error = error as? FieldTextError { return fieldError(error) }
        return self("sample_action_failed", describe(error))
    }
}
