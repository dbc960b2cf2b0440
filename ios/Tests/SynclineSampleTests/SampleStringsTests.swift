// The sample's two string tables in step: the same keys in English and German with the same
// placeholders, every key the sample's sources ask for (models and the Apple-only views, read as
// text) present, none left that they never ask for, and the words users read, through
// Bundle.module as the app gets them: entity names, rejection codes, a value that does not fit.
import Foundation
import SynclineCore
import SynclineSample
import SynclineTestSupport
import XCTest

/// A `Localizable.strings` file of the sample as its key → format table.
func sampleTable(_ language: String) throws -> [String: String] {
    let path = repositoryRoot.appendingPathComponent("ios/Sources/SynclineSample/Resources/\(language).lproj/Localizable.strings").path
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard let table = try PropertyListSerialization.propertyList(from: data, options: [], format: nil) as? [String: String] else {
        throw Failure(description: "\(path) is not a table of strings")
    }
    return table
}

/// The `%` directives of a format, as "position:conversion" sorted; only `%@` and `%lld`
/// (optionally numbered, `%2$@`) are allowed.
func sampleDirectives(_ format: String) throws -> [String] {
    var found: [String] = []
    var next = 1
    var rest = Substring(format)
    while let percent = rest.firstIndex(of: "%") {
        rest = rest[rest.index(after: percent)...]
        var position = next
        let digits = rest.prefix { $0.isNumber }
        if !digits.isEmpty, rest.dropFirst(digits.count).first == "$" {
            position = Int(digits)!
            rest = rest.dropFirst(digits.count + 1)
        } else {
            next += 1
        }
        if rest.hasPrefix("lld") {
            found.append("\(position):lld"); rest = rest.dropFirst(3)
        } else if rest.hasPrefix("@") {
            found.append("\(position):@"); rest = rest.dropFirst(1)
        } else {
            throw Failure(description: "unexpected directive in \(format.debugDescription)")
        }
    }
    return found.sorted()
}

/// The `"sample_…"` keys (whole string literals) written in the Swift files under `folder` (of ios/Sources).
func keysAsked(in folder: String) throws -> Set<String> {
    let dir = repositoryRoot.appendingPathComponent("ios/Sources/\(folder)")
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".swift") }
    try check(!files.isEmpty, "no sources in \(dir.path)")
    var keys = Set<String>()
    for file in files {
        let source = try String(contentsOfFile: dir.appendingPathComponent(file).path, encoding: .utf8)
        var rest = Substring(source)
        while let start = rest.range(of: "\"sample_") {
            let after = rest[rest.index(after: start.lowerBound)...]
            let key = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            // A whole key: more than the prefix, and the literal ends right after it.
            if key.count > "sample_".count, after.dropFirst(key.count).first == "\"" { keys.insert(String(key)) }
            rest = rest[start.upperBound...]
        }
    }
    return keys
}

final class SampleStringsTests: XCTestCase {
    func testEnglishAndGermanHaveTheSameKeysAndPlaceholders() throws {
        let en = try sampleTable("en"), de = try sampleTable("de")
        try check(en.count >= 50, "the English table: \(en.count) keys")
        try check(Set(en.keys) == Set(de.keys),
                  "only in English: \(Set(en.keys).subtracting(de.keys).sorted()), only in German: \(Set(de.keys).subtracting(en.keys).sorted())")
        // The same words in both are the few that are the same in German.
        let same: Set<String> = ["sample_token", "sample_field_body", "sample_record_heading", "sample_field_error"]
        for (key, english) in en {
            try check(try sampleDirectives(english) == sampleDirectives(de[key]!), "placeholders of \(key): \(english) / \(de[key]!)")
            try check(key.hasPrefix("sample_"), "\(key): every key starts with sample_")
            try check(same.contains(key) == (english == de[key]!), "\(key): \(english.debugDescription) untranslated, or listed as the same")
        }
    }

    func testTheSourcesAskForEveryKeyAndOnlyThose() throws {
        let keys = Set(try sampleTable("en").keys)
        let models = try keysAsked(in: "SynclineSample")
        let views = try keysAsked(in: "SynclineSampleViews")
        try check(models.subtracting(keys).isEmpty, "the models ask for keys no table has: \(models.subtracting(keys).sorted())")
        try check(views.subtracting(keys).isEmpty, "the views ask for keys no table has: \(views.subtracting(keys).sorted())")
        try check(keys.subtracting(models.union(views)).isEmpty, "keys nothing asks for: \(keys.subtracting(models.union(views)).sorted())")
    }

    func testTheWordsUsersReadInEnglishAndGerman() throws {
        let en = try XCTUnwrap(SampleText(localization: "en")), de = try XCTUnwrap(SampleText(localization: "de"))
        XCTAssertNil(SampleText(localization: "fr"), "no French table")
        // Entity names, as Android says them too.
        XCTAssertEqual(["tasks", "comments", "projects", "parts"].map(en.entityName), ["Task", "Comment", "Project", "parts"])
        XCTAssertEqual(["tasks", "comments", "projects"].map(de.entityName), ["Aufgabe", "Kommentar", "Projekt"])
        XCTAssertEqual(de.heading(entity: "tasks", title: "Pumpe prüfen"), "Aufgabe · Pumpe prüfen")
        XCTAssertEqual(en.fieldName("due_at"), "Due")
        XCTAssertEqual(de.fieldName("due_at"), "Fällig am")
        XCTAssertEqual(de.fieldName("internal_code"), "internal_code", "an unknown field keeps its name")
        // Every rejection code in words, in both languages; an unknown one gets a sentence, never
        // the server's message (which the screen shows as the detail).
        let codes = ["forbidden", "not_found", "invalid_value", "read_only", "read_only_field", "append_only",
                     "unknown_entity", "unknown_field", "rate_limited"]
        XCTAssertEqual(codes.map(en.rejection), [
            "You don't have access to this project",
            "It no longer exists on the server",
            "A value is not allowed, or a required one is missing",
            "It can't be changed from a device",
            "It can't be changed from a device",
            "It can be added, but not changed or deleted",
            "The server does not know it: update the app",
            "The server does not know it: update the app",
            "The server refused it",
        ])
        XCTAssertEqual(codes.map(de.rejection), [
            "Du hast keinen Zugriff auf dieses Projekt",
            "Das gibt es auf dem Server nicht mehr",
            "Ein Wert ist nicht erlaubt, oder ein Pflichtwert fehlt",
            "Das lässt sich auf dem Gerät nicht ändern",
            "Das lässt sich auf dem Gerät nicht ändern",
            "Das lässt sich hinzufügen, aber nicht ändern oder löschen",
            "Der Server kennt das nicht: aktualisiere die App",
            "Der Server kennt das nicht: aktualisiere die App",
            "Der Server hat das abgelehnt",
        ])
        // A value that does not fit, with the field's name; numbers fill their placeholders.
        let high = FieldTextError(field: "priority", problem: .notWholeNumber("high"))
        XCTAssertEqual(en.fieldError(high), "Priority: \"high\" is not a whole number")
        XCTAssertEqual(de.fieldError(high), "Priorität: „high“ ist keine ganze Zahl")
        XCTAssertEqual(high.description, "Priority: \"high\" is not a whole number")
        XCTAssertEqual(de("sample_conflicts_link", Int64(3)), "Konflikte (3)")
        XCTAssertEqual(en("sample_conflict_field", "Title", "Old", "Mine", "Theirs"), "Title — before: Old · mine: Mine · theirs: Theirs")
        XCTAssertEqual(en.actionFailed(SynclineError.Offline), "That did not work: \(SynclineError.Offline)")
    }
}
