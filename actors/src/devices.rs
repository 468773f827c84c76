//! GPUs for `cuda:N` pools, found through llama.cpp's backend registry. Only a build with
//! the `cuda` feature looks; a default build has no GPU code and lists none, so its
//! `cuda:N` pools are reported absent and their work goes to the CPU pools.

use llama_cpp_2::{LlamaBackendDevice, LlamaBackendDeviceType};
use swarm_runtime::scheduler::GpuInfo;

/// The CUDA devices present (none without the `cuda` feature).
pub fn cuda_devices() -> Vec<GpuInfo> {
    #[cfg(feature = "cuda")]
    {
        if let Err(e) = crate::llm::model::backend() {
            tracing::error!(error = %e, "llama.cpp backend failed; no CUDA devices listed");
            return Vec::new();
        }
        gpus(&llama_cpp_2::list_llama_ggml_backend_devices())
    }
    #[cfg(not(feature = "cuda"))]
    {
        Vec::new()
    }
}

/// The CUDA GPUs among llama.cpp's devices, numbered in CUDA order.
pub fn gpus(devices: &[LlamaBackendDevice]) -> Vec<GpuInfo> {
    devices
        .iter()
        .filter(|d| d.backend == "CUDA" && d.device_type == LlamaBackendDeviceType::Gpu)
        .enumerate()
        .map(|(i, d)| GpuInfo {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            name: if d.description.is_empty() {
                d.name.clone()
            } else {
                d.description.clone()
            },
            memory_bytes: d.memory_total as u64,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(
        backend: &str,
        kind: LlamaBackendDeviceType,
        description: &str,
    ) -> LlamaBackendDevice {
        LlamaBackendDevice {
            index: 0,
            name: format!("{backend}0"),
            description: description.into(),
            backend: backend.into(),
            memory_total: 8 << 30,
            memory_free: 4 << 30,
            device_type: kind,
        }
    }

    #[test]
    fn only_cuda_gpus_are_listed_in_cuda_order() {
        let devices = [
            device("CPU", LlamaBackendDeviceType::Cpu, "Intel Xeon"),
            device("CUDA", LlamaBackendDeviceType::Gpu, "NVIDIA H100"),
            device("Vulkan", LlamaBackendDeviceType::Gpu, "NVIDIA H100"),
            device("CUDA", LlamaBackendDeviceType::Gpu, ""),
        ];
        let found = gpus(&devices);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].index, found[0].name.as_str()), (0, "NVIDIA H100"));
        assert_eq!((found[1].index, found[1].name.as_str()), (1, "CUDA0"));
        assert_eq!(found[0].memory_bytes, 8 << 30);
        assert!(cfg!(feature = "cuda") || cuda_devices().is_empty());
    }
}
