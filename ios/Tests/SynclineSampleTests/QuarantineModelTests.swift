// The quarantine screen through its model, with the real core and server: a mutation the server
// rejects, quarantined, retried, edited into one it accepts, and discarded; and the screen's words
// in German (the entity's name, the code in words, the server's message only as the detail).
import Foundation
import Syncline
import SynclineCore
import SynclineSample
import SynclineTestSupport
import XCTest

final class QuarantineModelTests: XCTestCase {
    @MainActor
    func testAQuarantinedMutationIsRetriedEditedIntoOneTheServerTakesAndDiscarded() async throws {
        let (_, client) = try await signedIn("demo-alice")
        let model = QuarantineModel(client: client, text: sampleEnglish, banner: english)
        // p-ridge is carol's: the server rejects alice's task there, and it is quarantined.
        let key = newKey()
        _ = try client.insert(entity: "tasks", record: Record(key: key, version: nil,
            values: ["project_id": .text("p-ridge"), "title": .text("Not my project"), "done": .boolean(false)]))
        _ = try? await client.syncNow(unit: "all")
        try await eventually("quarantined, on screen: \(model.quarantined)") { model.quarantined.count == 1 }
        let item = model.quarantined[0]
        XCTAssertEqual(item.key, key)
        XCTAssertEqual(item.title, "Not my project")
        XCTAssertEqual(item.op, .insert)
        XCTAssertEqual(item.reason, "You don't have access to this project")
        XCTAssertEqual(item.entityName, "Task")
        XCTAssertEqual(item.heading, "Task · Not my project")
        let detail = try XCTUnwrap(item.detail)
        XCTAssertTrue(detail.hasPrefix("The server said: ") && detail.contains("p-ridge"), detail)
        XCTAssertEqual(item.fields.map(\.id), ["done", "project_id", "title"])
        XCTAssertEqual(item.fields.map(\.label), ["Done", "Project", "Title"])

        // Sent again as it was: rejected and quarantined again (a new seq).
        model.retry(item.id)
        XCTAssertNil(model.error)
        _ = try? await client.syncNow(unit: "all")
        try await eventually("quarantined again: \(model.quarantined.map(\.id))") { model.quarantined.count == 1 && model.quarantined[0].id != item.id }

        // Edited into alice's own project: the server takes it, bob sees it.
        let field = try XCTUnwrap(model.quarantined[0].fields.firstIndex { $0.id == "project_id" })
        model.quarantined[0].fields[field].edited = "p-harbor"
        model.sendEdited(model.quarantined[0].id)
        XCTAssertNil(model.error)
        try await eventually("off the list") { model.quarantined.isEmpty }
        _ = try await client.syncNow(unit: "all")
        XCTAssertEqual(client.status().quarantined, 0)
        let bob = try await serverView("demo-bob")
        XCTAssertEqual(try bob.get(entity: "tasks", key: key)?.values["title"], .text("Not my project"), "accepted in p-harbor")

        // Another quarantined mutation, discarded: undone on this device.
        let other = newKey()
        _ = try client.insert(entity: "tasks", record: Record(key: other, version: nil,
            values: ["project_id": .text("p-ridge"), "title": .text("Discard me")]))
        _ = try? await client.syncNow(unit: "all")
        try await eventually("the second one quarantined") { model.quarantined.count == 1 }
        model.discard(model.quarantined[0].id)
        XCTAssertNil(model.error)
        try await eventually("discarded") { model.quarantined.isEmpty }
        XCTAssertNil(try client.get(entity: "tasks", key: other), "the insert is undone here")
    }

    @MainActor
    func testTheRefusedChangesInGerman() async throws {
        let (_, client) = try await signedIn("demo-alice")
        let model = QuarantineModel(client: client, text: sampleGerman, banner: german)
        _ = try client.insert(entity: "tasks", record: Record(key: newKey(), version: nil,
            values: ["project_id": .text("p-ridge"), "title": .text("Nicht mein Projekt"), "done": .boolean(false)]))
        _ = try? await client.syncNow(unit: "all")
        try await eventually("quarantined, on screen: \(model.quarantined)") { model.quarantined.count == 1 }
        let item = model.quarantined[0]
        XCTAssertEqual(item.heading, "Aufgabe · Nicht mein Projekt")
        XCTAssertEqual(item.reason, "Du hast keinen Zugriff auf dieses Projekt")
        let detail = try XCTUnwrap(item.detail)
        XCTAssertTrue(detail.hasPrefix("Meldung des Servers: ") && detail.contains("p-ridge"), detail)
        XCTAssertEqual(item.fields.map(\.label), ["Erledigt", "Projekt", "Titel"])
        // A value that does not fit, in German: nothing is sent.
        let done = try XCTUnwrap(model.quarantined[0].fields.firstIndex { $0.id == "done" })
        model.quarantined[0].fields[done].edited = "vielleicht"
        model.sendEdited(item.id)
        XCTAssertEqual(model.error, "Erledigt: „vielleicht“ ist weder true noch false")
        model.discard(item.id)
        XCTAssertNil(model.error)
        try await eventually("discarded") { model.quarantined.isEmpty }
    }

    /// The test server runs the worked example's write rules (examples/dispatch): a due date in
    /// the past is refused with the office's own words, which are the reason on screen, framed in
    /// the language, with no "The server said" detail.
    @MainActor
    func testTheOfficesRefusalIsShownInItsOwnWords() async throws {
        let (_, client) = try await signedIn("demo-alice")
        let inEnglish = QuarantineModel(client: client, text: sampleEnglish, banner: english)
        let inGerman = QuarantineModel(client: client, text: sampleGerman, banner: german)
        let yesterday = (Int64(Date().timeIntervalSince1970) / 86_400 - 1) * 86_400_000
        _ = try client.insert(entity: "tasks", record: Record(key: newKey(), version: nil,
            values: ["project_id": .text("p-harbor"), "title": .text("Due yesterday"), "due_at": .timestamp(yesterday)]))
        _ = try? await client.syncNow(unit: "all")
        try await eventually("refused, on screen: \(inEnglish.quarantined)") { inEnglish.quarantined.count == 1 && inGerman.quarantined.count == 1 }
        let words = "The due date is in the past: pick today or a later day."
        XCTAssertEqual(inEnglish.quarantined[0].reason, "Refused by the office: \(words)")
        XCTAssertNil(inEnglish.quarantined[0].detail, "the office's words are the reason")
        XCTAssertEqual(inGerman.quarantined[0].reason, "Vom Büro abgelehnt: \(words)")
        inEnglish.discard(inEnglish.quarantined[0].id)
        XCTAssertNil(inEnglish.error)
        try await eventually("discarded") { inEnglish.quarantined.isEmpty }
    }
}
