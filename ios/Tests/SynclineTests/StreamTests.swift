// The generated bindings and the async streams against the real reference server: the banner
// through a connectivity change, conflicts, typed errors, a throwing listener, live queries
// (pending then synced, pulled changes, conflicts, stop, a slow consumer, cancellation), and the
// quarantined mutations with their stages.
import Foundation
import Syncline
import SynclineCore
import SynclineTestSupport
import XCTest

final class ThrowingListener: StatusListener, @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var calls: Int { lock.lock(); defer { lock.unlock() }; return n }
    func onStatus(status: SyncStatus) throws {
        lock.lock(); n += 1; lock.unlock()
        throw CallbackError.Failed(detail: "a bug in the app's listener")
    }
}


/// A handle that counts `stop()` calls before passing them on: how the test sees what a stream's
/// onTermination does with the core's watch.
final class SpyHandle: ListenerHandle, @unchecked Sendable {
    let stops = Collected<Void>()
    override func stop() {
        stops.add(())
        super.stop()
    }
}

/// The same core client behind another Swift reference, whose watches hand out SpyHandles. The
/// stream extensions call `watch`/`watchRecord` on `self`, so they get these. (Built from the
/// generated class's handle constructor: the only way to wrap a uniffi object.)
final class SpyClient: SynclineClient, @unchecked Sendable {
    let handles = Collected<SpyHandle>()
    private func spy(_ real: ListenerHandle) -> ListenerHandle {
        let spy = SpyHandle(unsafeFromHandle: real.uniffiCloneHandle())
        handles.add(spy)
        return spy
    }
    override func watch(entity: String, query: Query, listener: PageListener) throws -> ListenerHandle {
        spy(try super.watch(entity: entity, query: query, listener: listener))
    }
    override func watchRecord(entity: String, key: String, listener: RecordListener) throws -> ListenerHandle {
        spy(try super.watchRecord(entity: entity, key: key, listener: listener))
    }
}


final class StreamTests: XCTestCase {
    func testOfflineEditsShowTheBannerAndSyncWhenConnectivityReturns() async throws {
        let phone = try open("phone")
        phone.reportConnectivity(connectivity: .offline)
        let keys = (0..<200).map { _ in newKey() }
        for (i, key) in keys.enumerated() {
            _ = try phone.insert(entity: "tasks", record: task(key, "Offline edit \(i)"))
        }
        let log = Collected<Banner>()
        let watcher = Task {
            for await banner in phone.bannerStream() { log.add(banner) }
        }
        try await eventually("the offline banner with the count") {
            guard let last = log.all.last else { return false }
            return last.kind == .offline && last.pending == 200
                && english.title(last) == "You're offline · 200 changes waiting to sync"
        }
        phone.reportConnectivity(connectivity: .of(satisfied: true, wifi: true, cellular: false, wired: false, expensive: false, constrained: false))
        try await eventually("synced and hidden") {
            log.all.last?.kind == .hidden && phone.status().pending == 0
        }
        watcher.cancel()
        try check(log.all.contains { $0.kind == .syncing && english.title($0) == "Syncing…" }, "saw Syncing… in \(log.all.map { $0.kind })")
        try check(english.title(log.all.last!) == nil, "a hidden banner has no words")
        try check(phone.networkType() == .wifi, "network type")
        let tablet = try open("tablet", testConfig(manual: true))
        _ = try await tablet.syncNow(unit: "tasks")
        let record = try tablet.get(entity: "tasks", key: keys[199])
        try check(record?.values["title"] == .text("Offline edit 199"), "the edit is on the server: \(String(describing: record))")
    }

    func testAConflictIsSurfacedAndResolved() async throws {
        let a = try open("a", testConfig(manual: true))
        let b = try open("b", testConfig(manual: true))
        let key = newKey()
        _ = try a.insert(entity: "tasks", record: task(key, "Original"))
        _ = try await a.syncNow(unit: "tasks")
        _ = try await b.syncNow(unit: "tasks")
        _ = try a.update(entity: "tasks", patch: Record(key: key, values: ["title": .text("Title from A")]))
        _ = try await a.syncNow(unit: "tasks")
        _ = try b.update(entity: "tasks", patch: Record(key: key, values: ["title": .text("Title from B")]))
        let report = try await b.syncNow(unit: "tasks")
        try check(report.entities.first?.toInbox == 1, "one conflict to the inbox: \(report)")
        let conflicts = try b.conflicts()
        try check(conflicts.count == 1 && conflicts[0].fields == ["title"], "the conflict: \(conflicts)")
        try check(conflicts[0].local?["title"] == .text("Title from B"), "mine kept")
        try check(conflicts[0].remote?["title"] == .text("Title from A"), "theirs shown")
        try check(b.status().conflicts == 1, "status counts it")
        _ = try b.resolve(id: conflicts[0].id, resolution: .keepTheirs)
        _ = try await b.syncNow(unit: "tasks")
        try check(try b.get(entity: "tasks", key: key)?.values["title"] == .text("Title from A"), "theirs stands")
        try check(try b.conflicts().isEmpty, "inbox empty")
    }


    func testAThrowingListenerDoesNotCrashTheCore() async throws {
        let client = try open("throwing")
        let listener = ThrowingListener()
        let handle = client.listen(listener: listener)
        client.reportConnectivity(connectivity: Connectivity(connected: true, kind: .ethernet, metered: false))
        let report = try await client.syncNow(unit: "all")
        try check(report.unit == "all", "synced")
        _ = try client.insert(entity: "tasks", record: task(newKey(), "After the throw"))
        _ = try await client.syncNow(unit: "tasks")
        try await eventually("the listener kept being called") { listener.calls >= 2 }
        handle.stop()
    }

    func testErrorsAreTyped() async throws {
        let client = try open("errors", testConfig(manual: true))
        do {
            _ = try client.insert(entity: "nope", record: Record(key: "k", version: nil, values: [:]))
            throw Failure(description: "an unknown entity must be refused")
        } catch SynclineError.InvalidInput(let detail) {
            try check(detail.contains("nope"), detail)
        }
        do {
            _ = try client.update(entity: "tasks", patch: Record(key: "t-nobody", values: ["title": .text("x")]))
            throw Failure(description: "updating a missing record must be refused")
        } catch SynclineError.NotFound(let entity, let key) {
            try check(entity == "tasks" && key == "t-nobody", "\(entity)/\(key)")
        }
        client.reportConnectivity(connectivity: .offline)
        do {
            _ = try await client.syncNow(unit: "all")
            throw Failure(description: "offline must be refused")
        } catch SynclineError.Offline {}
        let refused = try open("refused", testConfig("not-a-token", manual: true))
        do {
            _ = try await refused.syncNow(unit: "all")
            throw Failure(description: "a bad token must be refused")
        } catch SynclineError.SignInNeeded(let code, _) {
            try check(code == "unauthorized", code)
        }
        let banner = refused.status().banner
        try check(banner.kind == .failed && banner.reason == .signInNeeded && !banner.canRetry, "\(banner)")
        try check(english.title(banner) == "Sync failed: sign-in needed", "\(String(describing: english.title(banner)))")
        try check(english.retryLabel(banner) == nil, "no Retry when the user must sign in")
    }

    func testConnectivityMaps() async throws {
        try check(Connectivity.of(satisfied: false, wifi: true, cellular: false, wired: false, expensive: false, constrained: false) == .offline, "unsatisfied")
        let cell = Connectivity.of(satisfied: true, wifi: false, cellular: true, wired: false, expensive: true, constrained: false)
        try check(cell == Connectivity(connected: true, kind: .cellular, metered: true), "\(cell)")
        let both = Connectivity.of(satisfied: true, wifi: true, cellular: true, wired: false, expensive: false, constrained: true)
        try check(both == Connectivity(connected: true, kind: .wifi, metered: true), "\(both)")
    }


    func testALocalInsertShowsUpPendingThenSynced() async throws {
        let client = try open("live-insert", testConfig(manual: true))
        let key = newKey()
        let log = Collected<Page>()
        let watcher = collect(client.watchStream(entity: "tasks", query: byKey(key)), into: log)
        defer { watcher.cancel() }
        try await eventually("the current (empty) page at once") { try log.checked().first?.records.isEmpty == true }
        _ = try client.insert(entity: "tasks", record: task(key, "Live insert"))
        try await eventually("the insert, pending: \(lastPage(log))") {
            let r = try newest(log)
            return r?.key == key && r?.values["title"] == .text("Live insert") && r?.state == .pending
        }
        _ = try await client.syncNow(unit: "tasks")
        try await eventually("the insert, synced: \(lastPage(log))") {
            let r = try newest(log)
            return r?.state == .synced && r?.version != nil && r?.values["title"] == .text("Live insert")
        }
    }

    func testAPulledChangeShowsUp() async throws {
        let mine = try open("live-alice", testConfig(manual: true))
        let bobs = try open("live-bob", testConfig("demo-bob", manual: true))
        // A new task of p-harbor, the project alice and bob share.
        let key = newKey()
        _ = try mine.insert(entity: "tasks", record: task(key, "Shared with Bob"))
        _ = try await mine.syncNow(unit: "tasks")
        let log = Collected<Page>()
        let watcher = collect(mine.watchStream(entity: "tasks", query: byKey(key)), into: log)
        defer { watcher.cancel() }
        try await eventually("alice's task, synced") {
            let r = try newest(log)
            return r?.values["title"] == .text("Shared with Bob") && r?.state == .synced
        }
        _ = try await bobs.syncNow(unit: "tasks")
        try check(try bobs.get(entity: "tasks", key: key)?.values["title"] == .text("Shared with Bob"), "bob got the task")
        _ = try bobs.update(entity: "tasks", patch: Record(key: key, values: ["title": .text("Edited by Bob")]))
        _ = try await bobs.syncNow(unit: "tasks")
        _ = try await mine.syncNow(unit: "tasks")
        try await eventually("bob's edit, pulled: \(lastPage(log))") {
            let r = try newest(log)
            return r?.values["title"] == .text("Edited by Bob") && r?.state == .synced
        }
    }

    func testAConflictAndItsResolutionShowUp() async throws {
        let mine = try open("live-conflict-alice", testConfig(manual: true))
        let bobs = try open("live-conflict-bob", testConfig("demo-bob", manual: true))
        let key = newKey()
        _ = try mine.insert(entity: "tasks", record: task(key, "Original"))
        _ = try await mine.syncNow(unit: "tasks")
        _ = try await bobs.syncNow(unit: "tasks")
        let log = Collected<Page>()
        let watcher = collect(mine.watchStream(entity: "tasks", query: byKey(key)), into: log)
        defer { watcher.cancel() }
        // Both change the title; bob's reaches the server first. Tasks' policy is manual, so alice's
        // push of the same field goes to her inbox.
        _ = try bobs.update(entity: "tasks", patch: Record(key: key, values: ["title": .text("Title from Bob")]))
        _ = try await bobs.syncNow(unit: "tasks")
        _ = try mine.update(entity: "tasks", patch: Record(key: key, values: ["title": .text("Title from Alice")]))
        try await eventually("alice's edit, pending") {
            let r = try newest(log)
            return r?.values["title"] == .text("Title from Alice") && r?.state == .pending
        }
        let report = try await mine.syncNow(unit: "tasks")
        try check(report.entities.first?.toInbox == 1, "one conflict to the inbox: \(report)")
        try await eventually("the task in conflict: \(lastPage(log))") {
            try newest(log)?.state == .inConflict
        }
        guard let conflict = try mine.conflicts().first(where: { $0.key == key }) else {
            throw Failure(description: "no conflict about \(key) in \(try mine.conflicts())")
        }
        _ = try mine.resolve(id: conflict.id, resolution: .keepMine)
        try await eventually("alice's title, pending again: \(lastPage(log))") {
            let r = try newest(log)
            return r?.values["title"] == .text("Title from Alice") && r?.state == .pending
        }
        _ = try await mine.syncNow(unit: "tasks")
        try await eventually("alice's title, synced") {
            let r = try newest(log)
            return r?.values["title"] == .text("Title from Alice") && r?.state == .synced
        }
        _ = try await bobs.syncNow(unit: "tasks")
        try check(try bobs.get(entity: "tasks", key: key)?.values["title"] == .text("Title from Alice"), "alice's title stands on the server")
    }

    func testTheQuarantinedStreamAndTheStagesFollowARejectionItsRetryEditAndDiscard() async throws {
        let client = try open("live-quarantine", testConfig(manual: true))
        let log = Collected<[QuarantinedMutation]>()
        let watcher = collect(client.quarantinedStream(), into: log)
        defer { watcher.cancel() }
        try await eventually("the empty list at once") { try log.checked().last?.isEmpty == true }
        func stage(_ receipt: MutationReceipt) throws -> MutationStage? {
            try client.mutationStage(mutationId: receipt.mutationId)
        }
        func expect(_ receipt: MutationReceipt, _ expected: MutationStage) throws {
            let found = try stage(receipt)
            try check(found == expected, "\(expected), not \(String(describing: found))")
        }
        func quarantined(_ what: String, _ holds: ([QuarantinedMutation]) -> Bool) async throws -> [QuarantinedMutation] {
            try await eventually("\(what): \(String(describing: log.all.last))") { holds(try log.checked().last ?? []) }
            return log.all.last ?? []
        }

        // p-ridge is carol's: the server rejects alice's task there, and it is quarantined.
        let key = newKey()
        let receipt = try client.insert(entity: "tasks", record: Record(key: key, version: nil,
            values: ["project_id": .text("p-ridge"), "title": .text("Not my project")]))
        try expect(receipt, .saved)
        _ = try? await client.syncNow(unit: "tasks")
        let first = try await quarantined("the rejected insert") { $0.count == 1 }[0]
        try check(first.key == key && first.mutationId == receipt.mutationId && first.op == .insert, "\(first)")
        try check(first.code == "forbidden", "the server's code: \(first.code)")
        try expect(receipt, .quarantined)
        try await eventually("the status counts it: \(client.status().quarantined)") { client.status().quarantined == 1 }

        // Retried as it was: out of quarantine, saved; the next push is rejected again.
        let retried = try client.retryQuarantined(seq: first.seq)
        _ = try await quarantined("the retried insert out of quarantine") { $0.isEmpty }
        try expect(receipt, .saved)
        _ = try? await client.syncNow(unit: "tasks")
        let again = try await quarantined("the insert rejected again") { $0.count == 1 }[0]
        try check(again.seq == retried && again.seq != first.seq, "a new seq: \(again.seq), retry said \(retried)")

        // Discarded: undone here, and the stage says so.
        try client.discardQuarantined(seq: again.seq)
        _ = try await quarantined("the discarded insert gone") { $0.isEmpty }
        try expect(receipt, .discarded)
        let undone = try client.get(entity: "tasks", key: key)
        try check(undone == nil, "the insert is undone here: \(String(describing: undone))")

        // Another one, edited into alice's own project: accepted, with the version it produced.
        let other = try client.insert(entity: "tasks", record: Record(key: newKey(), version: nil,
            values: ["project_id": .text("p-ridge"), "title": .text("Edit me")]))
        _ = try? await client.syncNow(unit: "tasks")
        let edit = try await quarantined("the second rejected insert") { $0.count == 1 }[0]
        _ = try client.editQuarantined(seq: edit.seq, values: ["project_id": .text("p-harbor")])
        _ = try await quarantined("the edited insert out of quarantine") { $0.isEmpty }
        _ = try await client.syncNow(unit: "tasks")
        switch try stage(other) {
        case .accepted(let version)?, .seen(let version)?:
            try check(version > 0, "the version it produced: \(version)")
        case let found:
            throw Failure(description: "the edited insert must be accepted, is \(String(describing: found))")
        }
        try await eventually("nothing left in quarantine: \(client.status().quarantined)") { client.status().quarantined == 0 }
        let all = log.all
        try check(zip(all, all.dropFirst()).allSatisfy { $0 != $1 }, "never the same list twice in a row: \(all.map(\.count))")
    }

    func testAStoppedWatchIsNotCalledAgain() async throws {
        let client = try open("live-stop", testConfig(manual: true))
        // A project of this test's own (never synced: local tasks are all the query sees).
        let project = "p-swift-\(UUID().uuidString.lowercased())"
        let query = Query(filters: [Filter(field: "project_id", value: .text(project))], sort: [], limit: 100, offset: 0)
        func insert(_ key: String) throws {
            _ = try client.insert(entity: "tasks", record: Record(key: key, values: ["project_id": .text(project), "title": .text(key)]))
        }
        let stopped = PageRecorder()
        let control = PageRecorder()
        let stoppedHandle = try client.watch(entity: "tasks", query: query, listener: stopped)
        let controlHandle = try client.watch(entity: "tasks", query: query, listener: control)
        defer { controlHandle.stop() }
        let before = newKey()
        try insert(before)
        try await eventually("the watch to be stopped sees the first write") { try stopped.sawAny(of: [before]) }
        stoppedHandle.stop()
        // Writes after stop() returned, in a burst and then after quiet spells, so they land both
        // inside and after the throttle's interval. The core checks for stop after each read and
        // before each call, so no page read after stop() returned can reach the stopped listener:
        // none of these keys may show up there, however late a call already under way arrives.
        var after: Set<String> = []
        for i in 0..<6 {
            let key = newKey()
            try insert(key)
            after.insert(key)
            if i >= 3 { try await Task.sleep(nanoseconds: 300_000_000) }
        }
        try await eventually("the control watch sees every later write") {
            try control.pages.checked().last.map { page in after.isSubset(of: page.records.map(\.key)) } == true
        }
        // A stop that did not work would answer about when the control watch did; a second more
        // (a grace period, not a deadline: a working stop never answers) lets it show.
        try await Task.sleep(nanoseconds: 1_000_000_000)
        try check(try !stopped.sawAny(of: after), "the stopped watch was called with a later write: \(stopped.pages.all.count) pages")
    }

    func testASlowConsumerGetsTheNewestPage() async throws {
        let client = try open("live-slow", testConfig(manual: true))
        let project = "p-swift-\(UUID().uuidString.lowercased())"
        let query = Query(filters: [Filter(field: "project_id", value: .text(project))], sort: [], limit: 100, offset: 0)
        // The stream registers its watch when made; nobody reads it while the writes happen.
        let stream = client.watchStream(entity: "tasks", query: query)
        let control = PageRecorder()
        let controlHandle = try client.watch(entity: "tasks", query: query, listener: control)
        defer { controlHandle.stop() }
        try await eventually("the control's first page") { try !control.pages.checked().isEmpty }
        var keys: Set<String> = []
        for _ in 0..<4 {
            let key = newKey()
            _ = try client.insert(entity: "tasks", record: Record(key: key, values: ["project_id": .text(project), "title": .text(key)]))
            keys.insert(key)
            // Past the throttle's interval, so the core delivers a page per write.
            try await Task.sleep(nanoseconds: 300_000_000)
        }
        try await eventually("the control watch sees every write") {
            try control.pages.checked().last.map { keys.isSubset(of: $0.records.map(\.key)) } == true
        }
        // The stream's own watch answers about when the control did; a grace period lets it.
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let log = Collected<Page>()
        let reader = collect(stream, into: log)
        defer { reader.cancel() }
        try await eventually("the stream's newest page, with every write: \(lastPage(log))") {
            try log.checked().last.map { keys.isSubset(of: $0.records.map(\.key)) } == true
        }
        // Buffering everything would hand out the first (empty) page first.
        try check(!log.all[0].records.isEmpty, "a late reader gets a newer page than the first: \(log.all.map(\.records.count))")
    }


    func testCancellingTheConsumerStopsTheCoreWatch() async throws {
        let client = try open("live-cancel", testConfig(manual: true))
        let spy = SpyClient(unsafeFromHandle: client.uniffiCloneHandle())
        // watchStream
        let pages = Collected<Page>()
        let pageConsumer = collect(spy.watchStream(entity: "tasks", query: byKey(newKey())), into: pages)
        // The core may deliver the first page before `watch` has returned the handle the spy
        // records: wait for both.
        try await eventually("watchStream's first page") { try !pages.checked().isEmpty && !spy.handles.all.isEmpty }
        try check(spy.handles.all.count == 1, "one watch registered: \(spy.handles.all.count)")
        let pageHandle = spy.handles.all[0]
        try check(pageHandle.stops.all.isEmpty, "the watch runs while its stream is consumed")
        pageConsumer.cancel()
        try await eventually("cancelling watchStream's consumer stops its watch") { pageHandle.stops.all.count == 1 }
        // watchRecordStream
        let records = Collected<Record?>()
        let recordConsumer = collect(spy.watchRecordStream(entity: "tasks", key: newKey()), into: records)
        try await eventually("watchRecordStream's first value") { try !records.checked().isEmpty && spy.handles.all.count >= 2 }
        try check(spy.handles.all.count == 2, "a second watch registered: \(spy.handles.all.count)")
        let recordHandle = spy.handles.all[1]
        try check(recordHandle.stops.all.isEmpty, "the record watch runs while its stream is consumed")
        recordConsumer.cancel()
        try await eventually("cancelling watchRecordStream's consumer stops its watch") { recordHandle.stops.all.count == 1 }
    }

    func testARecordStreamSeesChangesAndTheDeletion() async throws {
        let client = try open("live-record", testConfig(manual: true))
        let key = newKey()
        let log = Collected<Record?>()
        let watcher = collect(client.watchRecordStream(entity: "tasks", key: key), into: log)
        defer { watcher.cancel() }
        try await eventually("nil at once: no such record yet") { try log.checked().first.map { $0 == nil } == true }
        _ = try client.insert(entity: "tasks", record: task(key, "First title"))
        try await eventually("the insert") {
            let r = try log.checked().last ?? nil
            return r?.values["title"] == .text("First title") && r?.state == .pending
        }
        _ = try client.update(entity: "tasks", patch: Record(key: key, values: ["title": .text("Second title")]))
        try await eventually("the change") { (try log.checked().last ?? nil)?.values["title"] == .text("Second title") }
        _ = try client.delete(entity: "tasks", key: key)
        try await eventually("nil again: the deletion") {
            let all = try log.checked()
            return all.count > 1 && all.last! == nil
        }
        let all = log.all
        try check(zip(all, all.dropFirst()).allSatisfy { $0 != $1 }, "never the same value twice in a row: \(all)")
    }

    func testAWatchTheCoreRefusesEndsTheStreamWithItsError() async throws {
        let client = try open("live-refused", testConfig(manual: true))
        let unknownField = Query(filters: [Filter(field: "colour", value: .text("red"))], sort: [], limit: 10, offset: 0)
        do {
            for try await page in client.watchStream(entity: "tasks", query: unknownField) {
                throw Failure(description: "a query on an unknown field must be refused, got \(page)")
            }
            throw Failure(description: "the stream of a refused query must end with an error, not quietly")
        } catch SynclineError.InvalidInput(let detail) {
            try check(detail.contains("colour"), detail)
        }
        do {
            for try await record in client.watchRecordStream(entity: "nope", key: "k") {
                throw Failure(description: "an unknown entity must be refused, got \(String(describing: record))")
            }
            throw Failure(description: "the stream of a refused watch must end with an error, not quietly")
        } catch SynclineError.InvalidInput(let detail) {
            try check(detail.contains("nope"), detail)
        }
    }

}
