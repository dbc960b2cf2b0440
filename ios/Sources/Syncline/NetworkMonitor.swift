// Apple only: feeds the OS's network path to the core. Thin on purpose: the mapping lives in plain
// Swift (Connectivity.of), which the Linux tests cover.
#if canImport(Network)
import Network
import SynclineCore

/// Follows the network path on a background queue and reports every change of it to `client`
/// as its connectivity.
public final class NetworkMonitor: @unchecked Sendable {
    private let monitor = NWPathMonitor()
    private let client: SynclineClient

    /// A monitor for `client`; call `start()`.
    public init(client: SynclineClient) { self.client = client }

    /// Starts watching; the first update reports the current path.
    public func start() {
        monitor.pathUpdateHandler = { [client] path in
            client.reportConnectivity(connectivity: Connectivity.of(
                satisfied: path.status == .satisfied, wifi: path.usesInterfaceType(.wifi),
                cellular: path.usesInterfaceType(.cellular), wired: path.usesInterfaceType(.wiredEthernet),
                expensive: path.isExpensive, constrained: path.isConstrained))
        }
        monitor.start(queue: DispatchQueue(label: "dev.syncline.network"))
    }

    /// Stops watching; a stopped monitor cannot be started again (NWPathMonitor's rule).
    public func stop() { monitor.cancel() }
}
#endif
