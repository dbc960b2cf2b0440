//! What the core knows about the network: what the OS reports ([`Connectivity`], [`NetworkType`])
//! and the state the core derives from it and from its own requests ([`NetworkStatus`]).

/// The kind of network the OS reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum NetworkType {
    /// Wi-Fi.
    Wifi,
    /// Mobile data.
    Cellular,
    /// Wired.
    Ethernet,
    /// Anything else (VPN, Bluetooth tethering, unknown).
    Other,
    /// No network.
    None,
}

/// What the shell reports about the OS's connectivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Connectivity {
    /// Whether the OS has a usable network.
    pub connected: bool,
    /// The kind of network, as the OS names it.
    pub kind: NetworkType,
    /// Whether it is metered (costs the user money per byte).
    pub metered: bool,
}

impl Connectivity {
    /// Connected through `kind`, not metered.
    pub fn online(kind: NetworkType) -> Self {
        Connectivity {
            connected: true,
            kind,
            metered: false,
        }
    }

    /// No network at all.
    pub fn offline() -> Self {
        Connectivity {
            connected: false,
            kind: NetworkType::None,
            metered: false,
        }
    }
}

/// The network state as the core sees it: the OS's report plus what requests have taught it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum NetworkStatus {
    /// Connected, and the server answered the last time it was asked.
    Online,
    /// The OS reports no connectivity (for longer than the flap debounce).
    Offline,
    /// The OS is connected but the server cannot be reached; probes look for it with backoff.
    ServerUnreachable,
    /// The server refused the user's token: nothing syncs until the app sets a new one.
    SignInNeeded,
}
