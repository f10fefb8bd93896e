/**
 * The WebGPU adapter, looked for once when a GPU test file loads. A test that
 * needs a device is registered with `{ ignore: noGpu }`: where `navigator.gpu`
 * gives no adapter (Bun, Node, a machine with no driver) it is reported as
 * ignored with the reason, never as passed.
 * @module
 */
import { getGpu, type GpuContext, type GpuLimitOverrides, type GpuLimits } from "../src/_webgpu/device.ts";

const found = await getGpu();

/** Why the GPU tests cannot run here, or `false` when an adapter was found. */
export const noGpu: string | false = "reason" in found ? `no WebGPU device: ${found.reason}` : false;

/** Why no hardware GPU is here (none, or a software adapter), or `false` when one is. */
export const noHardwareGpu: string | false = noGpu ||
  (!("reason" in found) && found.fallback ? `a software adapter (${found.adapter}), which auto never picks` : false);

if (!("reason" in found)) console.log(`WebGPU adapter: ${found.adapter}; limits ${JSON.stringify(found.limits)}`);

/**
 * The device's context (with `limits` lowered when given). Only for tests
 * registered with `{ ignore: noGpu }`: it throws where there is no device.
 */
export async function gpu(limits?: GpuLimitOverrides): Promise<GpuContext> {
  const g = await getGpu(limits === undefined ? {} : { limits });
  if ("reason" in g) throw new Error(`no WebGPU device: ${g.reason}`);
  return g;
}

/** Generous device limits for the planner's tests (no device needed). */
export const PLANNER_LIMITS: GpuLimits = {
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxBufferSize: 256 * 2 ** 20,
};
