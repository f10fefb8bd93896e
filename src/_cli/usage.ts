/**
 * The CLI's words: the usage text, the options each command takes, and the
 * checks of numeric option values (a bad value is a usage error, status 2).
 * @module
 */
import { CliError } from "./layers.ts";

/** `convsv help`. */
export const USAGE = `convsv: exact singular values of the conv layers of a model file
(Sedghi, Gupta & Long, The Singular Values of Convolutional Layers, ICLR 2019)

Usage:
  convsv report MODEL [--input 1x3x224x224] [--attributes FILE.json] [--fold-bn]
                      [--json [--with-values]] [--html OUT.html | --no-html]
                      [--values OUT.npz] [--threads N] [--f32] [--power-iterations N] [--quiet]
  convsv clip MODEL --max-norm C [-o OUT.safetensors] [--model-out PATH] [--fold-bn]
                    [--iterations N] [--tolerance T] [--certify | --no-certify] [--json]
                    [--html OUT.html] [--input 1x3x224x224] [--attributes FILE.json]
                    [--threads N] [--quiet]
  convsv help

MODEL: .safetensors, .npy, .npz, .onnx, or a TensorFlow.js model.json or
weights manifest (weight shards beside it).

report   Per-layer table: kernel, input, stride, padding, the exact operator norm
         (circular padding) or a certified interval [lower, upper] (zero padding),
         time; the product of the norms as a Lipschitz bound of the conv part; an
         HTML report with plots (default ./MODEL.report.html).
  --input SHAPE   network input, e.g. 1x3x224x224 (NCHW), 1x224x224x3 (NHWC) or
                  224x224; layers whose input shape the file does not give get
                  it from the graph (ONNX, TF.js) or propagated through the earlier
                  conv layers
  --attributes F  JSON object: layer name -> { stride, padding, dilation, groups,
                  transposed, inputShape, layout }, for files that store weights
                  only (safetensors, npy, npz, TF.js weights manifests)
  --fold-bn       fold each BatchNorm / scale into the preceding conv's kernel
  --json          print one JSON object instead of the table
  --with-values   with --json: every layer's plotted spectrum in full (spectrum.values)
  --html PATH     where to write the HTML report; --no-html: none
  --values F.npz  every layer's plotted spectrum as a float64 array named after the
                  layer (np.load(F)[name], shape [...grid, r])
  --threads N     worker threads (default: all cores)
  --f32           f32 bidiagonalisation (about twice as fast, ~1e-6 relative)
  --power-iterations N  steps behind each certified lower bound (default 20)
  --quiet         no progress on stderr
clip     Project every conv kernel (any stride, dilation, groups, transposed, 1-D/3-D;
         zero padding on a circular grid that holds it, so its norms are upper bounds)
         toward operator norm <= C (the paper's Appendix A, --iterations rounds,
         default 1) and print each layer's norm before and after.
  -o F.safetensors  the kernels, named by layer (layout in the metadata)
  --model-out PATH  the model in its own format, only the kernels changed: .safetensors,
                    .npy, .npz (members stored), .onnx (raw/packed weights in place),
                    TF.js model.json (shards beside it, same paths and sizes)
  --fold-bn       clip conv∘BatchNorm (or scale); the conv kernel is written
  --iterations N  rounds of clip + cut back to the taps (default 1)
  --tolerance T   stop once the norm is <= C(1+T); turns certify on
  --certify       scale each kernel by min(1, C/normAfter): normAfter <= C guaranteed
  --no-certify    leave the rounds' result as it is (the default without --tolerance)
  --json          print one JSON object instead of the table
  --html PATH     an HTML page: each layer's spectrum and norm before and after clipping

Exit status: 0 on success, 1 on errors (also when a layer failed), 2 on usage errors.`;

/** Every option of every command, for `parseArgs`. */
export const OPTIONS = {
  input: { type: "string" },
  attributes: { type: "string" },
  "power-iterations": { type: "string" },
  "fold-bn": { type: "boolean" },
  json: { type: "boolean" },
  html: { type: "string" },
  values: { type: "string" },
  "with-values": { type: "boolean" },
  "no-html": { type: "boolean" },
  threads: { type: "string" },
  f32: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  "max-norm": { type: "string" },
  output: { type: "string", short: "o" },
  "model-out": { type: "string" },
  certify: { type: "boolean" },
  "no-certify": { type: "boolean" },
  iterations: { type: "string" },
  tolerance: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The options each command takes. */
export const ALLOWED: Record<string, string[]> = {
  report: [
    "input",
    "attributes",
    "power-iterations",
    "fold-bn",
    "json",
    "with-values",
    "html",
    "no-html",
    "values",
    "threads",
    "f32",
    "quiet",
    "help",
  ],
  clip: [
    "max-norm",
    "output",
    "model-out",
    "iterations",
    "tolerance",
    "certify",
    "no-certify",
    "fold-bn",
    "json",
    "html",
    "input",
    "attributes",
    "threads",
    "quiet",
    "help",
  ],
};

/** `--flag`'s value as a positive integer; undefined when not given. */
export function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new CliError(`--${flag} must be a positive integer: current value is ${text}`, 2);
  }
  return n;
}

/** `--flag`'s value as a positive (with `allowZero`, non-negative) number; undefined when not given. */
export function positiveNumber(flag: string, text: string | undefined, allowZero = false): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new CliError(
      `--${flag} must be a ${allowZero ? "non-negative" : "positive"} number: current value is ${text}`,
      2,
    );
  }
  return n;
}
