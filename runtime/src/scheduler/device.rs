//! Where a pool runs: the host's CPUs, one CUDA device, or a remote server. GPUs are
//! found at start by a detector the app registers (the default build has none, so every
//! `cuda:N` pool is reported absent and its work goes to the other pools).

use std::fmt;
use std::sync::Arc;

/// A pool's device class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// The host's CPUs.
    #[default]
    Cpu,
    /// CUDA device `N`.
    Cuda(u32),
    /// A remote server reached over HTTP.
    Remote,
}

impl Device {
    /// Parses `cpu`, `cuda:N` (or `cuda`, meaning `cuda:0`) and `remote`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "cpu" => Some(Self::Cpu),
            "remote" => Some(Self::Remote),
            "cuda" => Some(Self::Cuda(0)),
            _ => text.strip_prefix("cuda:")?.parse().ok().map(Self::Cuda),
        }
    }

    /// A GPU pool: preferred over CPU when estimates tie.
    pub fn is_gpu(self) -> bool {
        matches!(self, Self::Cuda(_))
    }

    /// Runs in this process: preferred over remote when estimates tie.
    pub fn is_local(self) -> bool {
        !matches!(self, Self::Remote)
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
            Self::Remote => f.write_str("remote"),
        }
    }
}

/// A GPU found at start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GpuInfo {
    /// Its CUDA index (`cuda:N`).
    pub index: u32,
    /// The device's name.
    pub name: String,
    /// Its memory in bytes.
    pub memory_bytes: u64,
}

/// Lists the GPUs present; registered by the app ([`crate::Registry::device_detector`]),
/// run once at start on the blocking pool.
pub type DeviceDetector = Arc<dyn Fn() -> Vec<GpuInfo> + Send + Sync>;

/// Whether `device` can run here, given the GPUs found: `Err` says why not.
pub fn present(device: Device, gpus: &[GpuInfo]) -> Result<(), String> {
    match device {
        Device::Cuda(n) if !gpus.iter().any(|g| g.index == n) => Err(match gpus.len() {
            0 => format!(
                "{device} is absent: no CUDA device found (a default build has no GPU support; build with `--features cuda`)"
            ),
            k => format!("{device} is absent: {k} CUDA device(s) found"),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_devices() {
        for (text, device) in [
            ("cpu", Device::Cpu),
            ("cuda:0", Device::Cuda(0)),
            ("cuda:3", Device::Cuda(3)),
            ("remote", Device::Remote),
        ] {
            assert_eq!(Device::parse(text), Some(device));
            assert_eq!(device.to_string(), text);
        }
        assert_eq!(Device::parse("cuda"), Some(Device::Cuda(0)));
        for bad in ["gpu", "cuda:", "cuda:x", "CPU", ""] {
            assert_eq!(Device::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_absent_gpu_is_reported() {
        let gpus = [GpuInfo {
            index: 0,
            name: "H100".into(),
            memory_bytes: 80 << 30,
        }];
        assert!(present(Device::Cuda(0), &gpus).is_ok());
        assert!(present(Device::Cuda(1), &gpus).is_err());
        assert!(present(Device::Cuda(0), &[]).is_err());
        assert!(present(Device::Cpu, &[]).is_ok());
        assert!(present(Device::Remote, &[]).is_ok());
    }
}
