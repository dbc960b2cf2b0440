// The projects, a project's tasks and a task's screen, through their models with the real core
// and server: a task added offline shows its mark and the offline banner until the network is
// back; a task's edits and comments reach the server, with the comment's author set there.
import Foundation
import Syncline
import SynclineCore
import SynclineSample
import SynclineTestSupport
import XCTest

final class TasksModelTests: XCTestCase {
    @MainActor
    func testTheProjectsAreTheUsersOwnLive() async throws {
        let (_, client) = try await signedIn("demo-alice")
        let projects = ProjectsModel(client: client, text: sampleEnglish)
        _ = try await client.syncNow(unit: "all")
        try await eventually("alice's projects: \(projects.projects.map(\.id))") {
            Set(projects.projects.map(\.id)) == ["p-harbor", "p-depot"]
        }
        XCTAssertEqual(projects.projects.map(\.name), ["Harbor pump station retrofit", "North depot inspection"], "by name")
        XCTAssertNil(projects.error)
    }

    @MainActor
    func testATaskAddedOfflineShowsItsMarkAndTheOfflineBannerUntilTheNetworkIsBack() async throws {
        let (session, client) = try await signedIn("demo-alice")
        let banner = try XCTUnwrap(session.banner)
        _ = try await client.syncNow(unit: "all")
        let tasks = TasksModel(client: client, projectID: "p-harbor", words: english, text: sampleEnglish)
        try await eventually("the seeded tasks") { !tasks.tasks.isEmpty }
        client.reportConnectivity(connectivity: .offline)
        let title = "Check the valves \(UUID().uuidString.prefix(6))"
        let key = try XCTUnwrap(tasks.add(title: title), String(describing: tasks.error))
        try await eventually("the new task, marked: \(tasks.tasks.filter { $0.id == key })") {
            tasks.tasks.first { $0.id == key }?.mark == "Not synced yet"
        }
        try await eventually("the offline banner: \(String(describing: banner.title))") {
            banner.title == "You're offline · 1 change waiting to sync"
        }
        XCTAssertNil(banner.retryLabel)
        XCTAssertNil(tasks.add(title: "   "), "an empty title adds nothing")
        client.reportConnectivity(connectivity: wifi)
        try await eventually("synced: the mark and the banner gone") {
            let row = tasks.tasks.first { $0.id == key }
            return row?.mark == nil && row?.state == .synced && !banner.isVisible
        }
        let bob = try await serverView("demo-bob")
        XCTAssertEqual(try bob.get(entity: "tasks", key: key)?.values["title"], .text(title), "on the server, and bob has it")
    }

    /// Issue 21: alice's list of p-harbor is open and she does nothing (no sync asked for, no
    /// periodic sync, no edit of hers); bob's device adds a task, ticks it and deletes it, each
    /// pushed at once. Her list shows each step by itself: only the live stream's hint brings it.
    @MainActor
    func testBobTicksATaskAndAlicesOpenListShowsItWithoutAnyAction() async throws {
        let (_, alice) = try await signedIn("demo-alice")
        _ = try await alice.syncNow(unit: "all")
        let tasks = TasksModel(client: alice, projectID: "p-harbor", words: english, text: sampleEnglish)
        try await eventually("alice live and her first sync over: live \(alice.isLive()), \(alice.status().state)") {
            guard case .idle = alice.status().state else { return false }
            return alice.isLive() && !tasks.tasks.isEmpty
        }
        var config = manualConfig(serverURL, token: "demo-bob")
        config.live = false
        let bob = try open("bob", config)
        bob.reportConnectivity(connectivity: wifi)
        let key = newKey()
        _ = try bob.insert(entity: "tasks", record: task(key, "Check the fence gate"))
        var pushed = Date()
        _ = try await bob.syncNow(unit: "tasks")
        try await eventually("bob's new task in alice's list") { tasks.tasks.contains { $0.id == key && !$0.done } }
        print("live: bob's new task in alice's list \(Int(Date().timeIntervalSince(pushed) * 1000)) ms after bob's push began")

        _ = try bob.update(entity: "tasks", patch: Record(key: key, version: nil, values: ["done": .boolean(true)]))
        pushed = Date()
        _ = try await bob.syncNow(unit: "tasks")
        try await eventually("bob's tick in alice's list: \(tasks.tasks.filter { $0.id == key })") {
            tasks.tasks.first { $0.id == key }?.done == true
        }
        print("live: bob's tick in alice's list \(Int(Date().timeIntervalSince(pushed) * 1000)) ms after bob's push began")
        XCTAssertEqual(alice.status().pending, 0, "alice changed nothing")

        _ = try bob.delete(entity: "tasks", key: key)
        _ = try await bob.syncNow(unit: "tasks")
        try await eventually("bob's delete in alice's list") { !tasks.tasks.contains { $0.id == key } }
        XCTAssertTrue(alice.isLive(), "still live")
    }

    @MainActor
    func testTheListTicksRenamesAndNotesATask() async throws {
        let (_, client) = try await signedIn("demo-alice")
        let tasks = TasksModel(client: client, projectID: "p-depot", words: english, text: sampleEnglish)
        let key = try XCTUnwrap(tasks.add(title: "Zz list task"))
        tasks.toggle(key)
        tasks.rename(key, to: "Zz renamed in the list")
        tasks.setNotes(key, "Bring the ladder")
        try await eventually("the edits in the list: \(tasks.tasks.filter { $0.id == key })") {
            let row = tasks.tasks.first { $0.id == key }
            return row?.done == true && row?.title == "Zz renamed in the list" && row?.notes == "Bring the ladder"
        }
        tasks.rename(key, to: "  ")
        XCTAssertEqual(tasks.error, "Title: a task needs a title")
        tasks.toggle(key)
        XCTAssertNil(tasks.error, "a good action clears the last error")
        try await eventually("untick, then synced") {
            let row = tasks.tasks.first { $0.id == key }
            return row?.done == false && row?.state == .synced
        }
        let again = try await serverView("demo-alice")
        let record = try XCTUnwrap(try again.get(entity: "tasks", key: key))
        XCTAssertEqual(record.values["title"], .text("Zz renamed in the list"))
        XCTAssertEqual(record.values["notes"], .text("Bring the ladder"))
        XCTAssertEqual(record.values["done"], .boolean(false))
    }

    @MainActor
    func testATasksScreenEditsItAndAddsCommentsTheServerSigns() async throws {
        let (_, client) = try await signedIn("demo-alice")
        let tasks = TasksModel(client: client, projectID: "p-harbor", words: english, text: sampleEnglish)
        let key = try XCTUnwrap(tasks.add(title: "Inspect the cabinet"))
        let screen = TaskModel(client: client, taskID: key, words: english, text: sampleEnglish)
        try await eventually("the task on its screen") { screen.task?.title == "Inspect the cabinet" }
        XCTAssertEqual(screen.titleDraft, "Inspect the cabinet", "the draft follows the task until edited")
        XCTAssertEqual(screen.notesDraft, "")
        // The notes are being edited while the title changes in the list: the draft stays.
        screen.notesDraft = "Both doors"
        tasks.rename(key, to: "Inspect the main cabinet")
        try await eventually("the new title in the draft: \(screen.titleDraft)") { screen.titleDraft == "Inspect the main cabinet" }
        XCTAssertEqual(screen.notesDraft, "Both doors", "an edited draft is not overwritten")
        // Ahead of today (whole seconds): the test server runs the worked example's write rules,
        // which refuse a due date in the past.
        let due = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400 + 30 * 86_400)
        screen.titleDraft = "Inspect the control cabinet"
        screen.saveTitle()
        screen.saveNotes()
        screen.setDue(due)
        screen.toggle()
        screen.commentDraft = "  Cabinet key is at the office  "
        screen.sendComment()
        XCTAssertEqual(screen.commentDraft, "", "emptied once added")
        screen.addComment("   ")
        XCTAssertNil(screen.error)
        // (Its pending state may never be shown: the automatic sync can take it to the server
        // before the live query's next page, which carries only the newest state.) The task and
        // its comments are two live queries that deliver independently, so the wait is for the
        // edited task itself, not for "synced" alone, which the task was before the edits too.
        try await eventually("synced, and the comment signed by the server: \(String(describing: screen.task)) \(screen.comments)") {
            screen.task?.state == .synced && screen.task?.title == "Inspect the control cabinet" && screen.task?.done == true
                && screen.comments.first?.author == "alice" && screen.comments.first?.createdAt != nil
                && screen.comments.first?.mark == nil
        }
        XCTAssertEqual(screen.comments.map(\.body), ["Cabinet key is at the office"])
        XCTAssertEqual(screen.task?.title, "Inspect the control cabinet")
        XCTAssertEqual(screen.task?.notes, "Both doors")
        XCTAssertEqual(screen.task?.due, due)
        XCTAssertEqual(screen.task?.done, true)
        let bob = try await serverView("demo-bob")
        let record = try XCTUnwrap(try bob.get(entity: "tasks", key: key))
        XCTAssertEqual(record.values["title"], .text("Inspect the control cabinet"))
        XCTAssertEqual(record.values["notes"], .text("Both doors"))
        XCTAssertEqual(record.values["due_at"], .timestamp(Int64(due.timeIntervalSince1970) * 1000))
        XCTAssertEqual(record.values["done"], .boolean(true))
        let comments = try bob.query(entity: "comments", query: Query(filters: [Filter(field: "task_id", value: .text(key))], sort: [], limit: 10, offset: 0))
        XCTAssertEqual(comments.records.map { $0.values["author"] }, [.text("alice")], "the server's word on who wrote it")
        // Deleted on another device: the screen says the task is gone.
        _ = try bob.delete(entity: "tasks", key: key)
        _ = try await bob.syncNow(unit: "all")
        _ = try await client.syncNow(unit: "all")
        try await eventually("gone") { screen.isGone && screen.task == nil }
    }
}
