// Field values as the sample shows them and as the user types them: the one place that turns the
// core's typed `Value`s into text and back, by the schema's field types.
import Foundation
import SynclineCore

/// What a typed value does not fit; `SampleText.fieldError` says it in the user's words.
public struct FieldTextError: Error, Equatable, CustomStringConvertible {
    /// What is wrong with the value.
    public enum Problem: Equatable, Sendable {
        /// None was typed, and the field needs one.
        case required
        /// A task's title of only spaces.
        case titleNeeded
        /// What was typed, which is not a whole number, a number, true or false, a date, JSON.
        case notWholeNumber(String), notNumber(String), notBoolean(String), notDate(String), notJSON(String)
        /// Text was typed for a file field, which takes an attached file.
        case fileField
    }

    /// The field's name.
    public let field: String
    /// What was wrong.
    public let problem: Problem

    /// An error about `field`.
    public init(field: String, problem: Problem) {
        self.field = field
        self.problem = problem
    }

    /// In English, for logs (screens use `SampleText.fieldError`).
    public var description: String { (SampleText(localization: "en") ?? SampleText()).fieldError(self) }
}

/// Values as text, and text as values.
public enum FieldText {
    /// How a value reads on screen: "—" for none, ✓/✗ for booleans, ISO 8601 for timestamps.
    public static func display(_ value: Value?) -> String {
        switch value {
        case nil, .null?: return "—"
        case .text(let text)?: return text
        case .integer(let n)?: return String(n)
        case .real(let x)?: return String(x)
        case .boolean(let b)?: return b ? "✓" : "✗"
        case .timestamp(let ms)?: return iso8601(ms)
        case .json(let json)?: return json
        case .attachment(let ref)?: return ref.name
        }
    }

    /// A value as the user would type it back (`parse` reads it again): like `display`, but
    /// "true"/"false" for booleans and "" for none.
    public static func editable(_ value: Value?) -> String {
        switch value {
        case nil, .null?: return ""
        case .boolean(let b)?: return b ? "true" : "false"
        default: return display(value)
        }
    }

    /// The typed text as a value of `field`: "" is none (refused for a required field),
    /// numbers in the C locale, booleans as true/false (or yes/no, ✓/✗), timestamps as ISO 8601
    /// date-times or dates (UTC), JSON checked to parse.
    public static func parse(_ text: String, as field: FieldDef) throws -> Value {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty && field.fieldType != .text {
            guard field.nullable else { throw FieldTextError(field: field.name, problem: .required) }
            return .null
        }
        func refuse(_ problem: (String) -> FieldTextError.Problem) -> FieldTextError {
            FieldTextError(field: field.name, problem: problem(trimmed))
        }
        switch field.fieldType {
        case .text:
            if text.isEmpty && !field.nullable { throw FieldTextError(field: field.name, problem: .required) }
            return .text(text)
        case .integer:
            guard let n = Int64(trimmed) else { throw refuse(FieldTextError.Problem.notWholeNumber) }
            return .integer(n)
        case .real:
            guard let x = Double(trimmed), x.isFinite else { throw refuse(FieldTextError.Problem.notNumber) }
            return .real(x)
        case .boolean:
            switch trimmed.lowercased() {
            case "true", "yes", "✓": return .boolean(true)
            case "false", "no", "✗": return .boolean(false)
            default: throw refuse(FieldTextError.Problem.notBoolean)
            }
        case .timestamp:
            guard let date = dateTime.date(from: trimmed) ?? day.date(from: trimmed) else { throw refuse(FieldTextError.Problem.notDate) }
            return .timestamp(Int64((date.timeIntervalSince1970 * 1000).rounded()))
        case .json:
            guard (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8), options: [.fragmentsAllowed])) != nil else { throw refuse(FieldTextError.Problem.notJSON) }
            return .json(trimmed)
        case .attachment:
            throw FieldTextError(field: field.name, problem: .fileField)
        }
    }

    /// A timestamp (ms since the Unix epoch) as a date.
    public static func date(_ value: Value?) -> Date? {
        guard case .timestamp(let ms)? = value else { return nil }
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }

    /// A date as the core's timestamp.
    public static func timestamp(_ date: Date) -> Value {
        .timestamp(Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    private static func iso8601(_ ms: Int64) -> String {
        dateTime.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    private static let dateTime: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f
    }()

    private static let day: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withFullDate]
        return f
    }()
}

extension Value {
    /// The text of a text value; nil for any other.
    var text: String? {
        if case .text(let text) = self { return text }
        return nil
    }
}
