// Apple only: the core's log in the unified log (Console.app), subsystem "dev.syncline".
#if canImport(os)
import os
import SynclineCore

/// Writes the core's log records to the unified log; install with
/// `setLogSink(sink: OSLogSink(), maxLevel: .info)`.
public final class OSLogSink: LogSink, @unchecked Sendable {
    private let logger = Logger(subsystem: "dev.syncline", category: "core")

    /// A sink logging under category "core".
    public init() {}

    /// Called by the core on its own threads. Logged as public, or Console.app would show
    /// `<private>` for every record outside a debugger.
    public func log(level: LogLevel, target: String, message: String) {
        let type: OSLogType = switch level {
        case .error: .error
        case .warn: .default
        case .info: .info
        case .debug, .trace: .debug
        }
        logger.log(level: type, "\(target, privacy: .public): \(message, privacy: .public)")
    }
}
#endif
