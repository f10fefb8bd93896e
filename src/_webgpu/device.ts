/**
 * The WebGPU device, created once per realm, and the pipeline cache.
 *
 * {@linkcode getGpu} asks `navigator.gpu` for an adapter and a device with the
 * adapter's own limits on the sizes this package cares about (the defaults of
 * the spec are smaller than most adapters offer), caches the result, and
 * says why when there is none: no `navigator.gpu` (Bun, Node), no adapter (no
 * driver), or a device request that failed. A lost device empties the cache,
 * so the next call makes a new one.
 *
 * Tests may lower the limits the runner plans against (`options.limits`):
 * the context then shares the device and the pipeline cache but reports the
 * smaller limits, which forces the runner to split work into more bindings,
 * batches and dispatches.
 *
 * For the runners: {@linkcode scoped} turns a GPU validation or
 * out-of-memory error inside a step into a thrown `Error`, and
 * {@linkcode bufferPool} makes a job's buffers and destroys them together.
 * @module
 */

/** `GPUBufferUsage` flags (numeric, so that this module loads where WebGPU's globals are missing). */
export const USAGE = {
  MAP_READ: 0x0001,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

/** `GPUMapMode.READ`. */
export const MAP_READ = 0x0001;

/** The device limits the runner plans against. */
export interface GpuLimits {
  /** Largest byte range one storage binding may cover. */
  maxStorageBufferBindingSize: number;
  /** Largest workgroup count along one dispatch dimension. */
  maxComputeWorkgroupsPerDimension: number;
  /** Bytes of workgroup memory one workgroup may use. */
  maxComputeWorkgroupStorageSize: number;
  /** Invocations in one workgroup. */
  maxComputeInvocationsPerWorkgroup: number;
  /** Largest `workgroup_size` x. */
  maxComputeWorkgroupSizeX: number;
  /** Largest buffer. */
  maxBufferSize: number;
}

/** Limits that {@linkcode getGpu} lets a caller lower (tests force splitting with them). */
export type GpuLimitOverrides = Partial<
  Pick<GpuLimits, "maxStorageBufferBindingSize" | "maxComputeWorkgroupsPerDimension" | "maxComputeWorkgroupStorageSize">
>;

/** A WebGPU device ready for the runner, with the limits to plan against and a shared pipeline cache. */
export interface GpuContext {
  readonly device: GPUDevice;
  /** The adapter, in words (`description`, else vendor and architecture), with `(fallback)` for software adapters. */
  readonly adapter: string;
  /** Whether the adapter says it is a software or otherwise fallback adapter (llvmpipe, SwiftShader, WARP). */
  readonly fallback: boolean;
  /** The limits to plan against: the device's, or lower ones asked for with `options.limits`. */
  readonly limits: Readonly<GpuLimits>;
  /** Pipelines by shader name and specialisation (shared by every context on the same device). */
  readonly pipelines: Map<string, Promise<GPUComputePipeline>>;
}

/** Why no device is available. */
export interface GpuUnavailable {
  reason: string;
}

const LIMIT_NAMES: (keyof GpuLimits)[] = [
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupsPerDimension",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxBufferSize",
];

const OVERRIDABLE = [
  "maxStorageBufferBindingSize",
  "maxComputeWorkgroupsPerDimension",
  "maxComputeWorkgroupStorageSize",
];

/** Smallest value each override may take (smaller ones could not hold one value or one workgroup). */
const OVERRIDE_MIN: Record<string, number> = {
  maxStorageBufferBindingSize: 256,
  maxComputeWorkgroupsPerDimension: 1,
  maxComputeWorkgroupStorageSize: 0,
};

let cached: Promise<GpuContext | GpuUnavailable> | undefined;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The adapter's description: `adapter.info`, or the older `requestAdapterInfo()` of engines without it. */
async function adapterInfo(adapter: GPUAdapter): Promise<Partial<GPUAdapterInfo>> {
  if (adapter.info) return adapter.info;
  const legacy = adapter as unknown as { requestAdapterInfo?: () => Promise<Partial<GPUAdapterInfo>> };
  try {
    return (await legacy.requestAdapterInfo?.()) ?? {};
  } catch {
    return {};
  }
}

/** Names of CPU implementations of WebGPU's backends (Mesa's llvmpipe and lavapipe, SwiftShader, WARP). */
const SOFTWARE = /llvmpipe|lavapipe|swiftshader|subzero|basic render|\bwarp\b|software/i;

/**
 * Whether an adapter runs on the CPU: it says so (`isFallbackAdapter`, on its
 * info or, in older engines, on itself), or any of its vendor, architecture,
 * device or description names a software implementation.
 */
export function isSoftware(adapter: unknown, info: Partial<GPUAdapterInfo>): boolean {
  if (info.isFallbackAdapter === true) return true;
  if ((adapter as { isFallbackAdapter?: unknown } | null)?.isFallbackAdapter === true) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(" "));
}

async function create(): Promise<GpuContext | GpuUnavailable> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) {
    return {
      reason: "navigator.gpu is not available in this runtime (Deno and browsers have WebGPU; Bun and Node do not)",
    };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (err) {
    return { reason: `navigator.gpu.requestAdapter() failed: ${message(err)}` };
  }
  if (!adapter) {
    return {
      reason:
        "navigator.gpu.requestAdapter() found no adapter (no GPU driver; on Debian a software one is the mesa-vulkan-drivers package)",
    };
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) requiredLimits[name] = adapter.limits[name];
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: "convsv", requiredLimits });
  } catch (err) {
    return { reason: `GPUAdapter.requestDevice() failed: ${message(err)}` };
  }
  const info = await adapterInfo(adapter);
  const words = info.description || [info.vendor, info.architecture, info.device].filter((x) => x).join(" ") ||
    "unnamed adapter";
  const fallback = isSoftware(adapter, info);
  const limits = {} as GpuLimits;
  for (const name of LIMIT_NAMES) limits[name] = device.limits[name];
  const context: GpuContext = {
    device,
    adapter: fallback ? `${words} (fallback)` : words,
    fallback,
    limits,
    pipelines: new Map(),
  };
  device.lost.then(() => {
    if (cached && current === context) {
      cached = undefined;
      current = undefined;
    }
  });
  current = context;
  return context;
}

let current: GpuContext | undefined;

function withLimits(base: GpuContext, overrides: GpuLimitOverrides): GpuContext {
  if (typeof overrides !== "object" || overrides === null) {
    throw new TypeError(
      `Cannot get a WebGPU device as limits must be an object: current value is ${String(overrides)}`,
    );
  }
  const limits = { ...base.limits };
  for (const [name, value] of Object.entries(overrides)) {
    if (!OVERRIDABLE.includes(name)) {
      throw new TypeError(
        `Cannot get a WebGPU device as limits may only lower ${OVERRIDABLE.join(", ")}: current value is ${name}`,
      );
    }
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw new TypeError(
        `Cannot get a WebGPU device as limits.${name} must be an integer: current value is ${String(value)}`,
      );
    }
    if (value < OVERRIDE_MIN[name]) {
      throw new RangeError(
        `Cannot get a WebGPU device as limits.${name} must be at least ${
          OVERRIDE_MIN[name]
        }: current value is ${value}`,
      );
    }
    const key = name as keyof GpuLimits;
    limits[key] = Math.min(limits[key], name === "maxStorageBufferBindingSize" ? value - (value % 4) : value);
  }
  return { ...base, limits };
}

/**
 * The WebGPU device, created on first call and then reused, or why there is none.
 *
 * @param options `limits`: lower the limits the runner plans against (for tests; the device is the same).
 * @returns The context, or `{ reason }` when `navigator.gpu`, an adapter or a device is missing.
 * @throws {TypeError} For an override that is not a known limit or not an integer.
 * @throws {RangeError} For an override below its minimum.
 */
export async function getGpu(options: { limits?: GpuLimitOverrides } = {}): Promise<GpuContext | GpuUnavailable> {
  cached ??= create();
  const base = await cached;
  if ("reason" in base || options.limits === undefined) return base;
  return withLimits(base, options.limits);
}

/** A WGSL constant: a u32 (non-negative integer), a bool, or `{ f32 }`. */
export type WgslConstant = number | boolean | { f32: number };

/**
 * Prepends `const NAME: type = value;` declarations to a shader source: the
 * only way sizes and constants enter the WGSL modules.
 */
export function specialize(source: string, constants: Record<string, WgslConstant>): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(constants)) {
    if (typeof value === "boolean") {
      lines.push(`const ${name}: bool = ${value};`);
    } else if (typeof value === "number") {
      if (!Number.isInteger(value) || value < 0 || value >= 2 ** 32) {
        throw new RangeError(`Cannot specialize a shader as ${name} must be a u32: current value is ${value}`);
      }
      lines.push(`const ${name}: u32 = ${value}u;`);
    } else {
      if (!Number.isFinite(value.f32)) {
        throw new RangeError(
          `Cannot specialize a shader as ${name} must be a finite f32: current value is ${value.f32}`,
        );
      }
      lines.push(`const ${name}: f32 = ${value.f32.toExponential(9)}f;`);
    }
  }
  return `${lines.join("\n")}\n${source}`;
}

/**
 * The compute pipeline of `source` specialised by `constants` (entry point
 * `main`, bind group layout inferred), compiled once per device and key.
 * A compilation failure rejects (and is not cached).
 */
export function getPipeline(
  gpu: GpuContext,
  name: string,
  source: string,
  constants: Record<string, WgslConstant>,
): Promise<GPUComputePipeline> {
  const key = `${name} ${JSON.stringify(constants)}`;
  let pipeline = gpu.pipelines.get(key);
  if (!pipeline) {
    const label = `convsv ${key}`;
    const module = gpu.device.createShaderModule({ label, code: specialize(source, constants) });
    pipeline = gpu.device.createComputePipelineAsync({
      label,
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    pipeline.catch(() => gpu.pipelines.delete(key));
    gpu.pipelines.set(key, pipeline);
  }
  return pipeline;
}

/**
 * Folds `count` workgroups into a dispatch grid `[x, y]` with both at most
 * `maxPerDim`; `x·y ≥ count` (the shader skips the extra ones). Throws
 * RangeError when `count > maxPerDim²` (callers size their batches below that).
 */
export function foldWorkgroups(count: number, maxPerDim: number): [number, number] {
  if (count > maxPerDim * maxPerDim) {
    throw new RangeError(
      `Cannot dispatch as the workgroups must be at most ${maxPerDim * maxPerDim}: current value is ${count}`,
    );
  }
  const x = Math.max(1, Math.min(count, maxPerDim));
  return [x, Math.max(1, Math.ceil(count / x))];
}

/** Runs `fn` inside validation and out-of-memory error scopes and throws the first GPU error. */
export async function scoped<T>(device: GPUDevice, what: string, fn: () => Promise<T>): Promise<T> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let result: T;
  let failure: unknown;
  try {
    result = await fn();
  } catch (err) {
    failure = err;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  const gpuError = validation ?? oom;
  if (gpuError) {
    throw new Error(`Cannot compute singular values on WebGPU as ${what} failed: ${gpuError.message}`, {
      cause: failure,
    });
  }
  if (failure !== undefined) throw failure;
  return result!;
}

/** The buffers of one job on one device, destroyed together. */
export interface BufferPool {
  /** The start of every label. */
  readonly prefix: string;
  /** A buffer labelled `prefix label`, its size rounded up to a multiple of 4 and at least 16 bytes. */
  make(label: string, size: number, usage: number): GPUBuffer;
  /** Destroys every buffer made so far (the pool can make more afterwards). */
  destroy(): void;
}

/** A {@linkcode BufferPool} on `device` whose labels start with `prefix`. */
export function bufferPool(device: GPUDevice, prefix: string): BufferPool {
  const owned: GPUBuffer[] = [];
  return {
    prefix,
    make(label, size, usage) {
      const b = device.createBuffer({
        label: `${prefix} ${label}`,
        size: Math.max(16, Math.ceil(size / 4) * 4),
        usage,
      });
      owned.push(b);
      return b;
    },
    destroy() {
      for (const b of owned) b.destroy();
      owned.length = 0;
    },
  };
}
