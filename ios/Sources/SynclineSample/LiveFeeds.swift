// How the sample's models follow the core: each screen's model keeps its live queries (and the
// status, where it shows counts) as tasks on the main actor, which end with the model.
import Foundation
import SynclineCore

/// The live feeds of one model. Releasing it (with its model) cancels them, which ends their
/// streams and so stops the core's watches.
@MainActor
final class LiveFeeds {
    private var tasks: [Task<Void, Never>] = []

    /// Applies every element of `stream` on the main actor; `failed` gets the error that ends it
    /// (a refused query, a failed read). Capture the model weakly in both.
    func follow<Element>(_ stream: AsyncThrowingStream<Element, Error>,
                         _ apply: @escaping @MainActor (Element) -> Void,
                         failed: @escaping @MainActor (Error) -> Void) {
        tasks.append(Task { @MainActor in
            do {
                for try await element in stream { apply(element) }
            } catch {
                failed(error)
            }
        })
    }

    /// Applies every element of a stream that cannot fail (the status) on the main actor.
    func follow<Element>(_ stream: AsyncStream<Element>, _ apply: @escaping @MainActor (Element) -> Void) {
        tasks.append(Task { @MainActor in
            for await element in stream { apply(element) }
        })
    }

    /// Ends every feed.
    func stop() {
        for task in tasks { task.cancel() }
        tasks = []
    }

    deinit {
        for task in tasks { task.cancel() }
    }
}

/// An error as it describes itself (the core's typed error): the detail after the screen's own
/// words ("Cannot read the tasks: …").
func describe(_ error: Error) -> String {
    String(describing: error)
}

/// Runs a local write for a screen: nil when it worked, else why not, in `text`'s words (the
/// model keeps it as its `error`, so the screen shows the last action's failure and clears it on
/// success).
func attempt(_ text: SampleText, _ write: () throws -> Void) -> String? {
    do {
        try write()
        return nil
    } catch {
        return text.actionFailed(error)
    }
}
