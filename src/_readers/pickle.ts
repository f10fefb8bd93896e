/**
 * A restricted unpickler: the part of Python's pickle machine (protocols 2
 * to 5) that a PyTorch state dict needs, and nothing that runs code. It
 * builds `None`, booleans, integers (up to 64 bits), floats, strings, tuples,
 * lists and dicts itself; the few globals, calls and persistent ids it meets
 * go to the caller's {@linkcode PickleHooks}, which refuse what they do not
 * know. Every other opcode (INST, OBJ, NEWOBJ, EXT*, the text opcodes of
 * protocol 0, bytes, sets, out-of-band buffers) is refused naming it and its
 * byte offset. Every length is checked against the bytes before anything is
 * read or allocated for it; the machine runs one pass over the bytes, so its
 * work and memory are linear in them.
 * @module
 */
import { rangeError, type Source, typeError } from "./_common.ts";

/** A Python tuple. */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python list. */
export class PyList {
  constructor(readonly items: PyValue[]) {}
}

/** Keys a dict may have here. */
export type PyKey = string | number | bigint | boolean | null;

/** A Python dict (or `collections.OrderedDict`), in insertion order. */
export class PyDict {
  readonly map: Map<PyKey, PyValue> = new Map();
  /** The instance attributes a BUILD gave it (a state dict's `_metadata`); never interpreted. */
  attributes: PyValue = null;
}

/** A global the hooks allowed, by its dotted name (`torch._utils._rebuild_tensor_v2`). */
export class PyGlobal {
  constructor(readonly name: string) {}
}

/** Values the caller's hooks create (storages, tensors): opaque to the machine. */
export interface PyObject {
  readonly pyType: string;
}

/** What the restricted unpickler builds. */
export type PyValue = null | boolean | number | bigint | string | PyTuple | PyList | PyDict | PyGlobal | PyObject;

/** What the caller decides: which globals exist, what calling one gives, what a persistent id stands for. */
export interface PickleHooks {
  /** The global `module.name`, or a thrown error when it is not allowed. `at`: its byte offset. */
  global(module: string, name: string, at: number): PyGlobal;
  /** The result of REDUCE: `fn(*args)`, or a thrown error. */
  reduce(fn: PyGlobal, args: PyValue[], at: number): PyValue;
  /** The object a BINPERSID id stands for, or a thrown error. */
  persistentLoad(pid: PyValue, at: number): PyValue;
}

/** Names of pickle's opcodes, for messages about the ones refused. */
const OPCODE_NAMES: Record<number, string> = {
  0x28: "MARK",
  0x2e: "STOP",
  0x30: "POP",
  0x31: "POP_MARK",
  0x32: "DUP",
  0x46: "FLOAT",
  0x49: "INT",
  0x4a: "BININT",
  0x4b: "BININT1",
  0x4c: "LONG",
  0x4d: "BININT2",
  0x4e: "NONE",
  0x50: "PERSID",
  0x51: "BINPERSID",
  0x52: "REDUCE",
  0x53: "STRING",
  0x54: "BINSTRING",
  0x55: "SHORT_BINSTRING",
  0x56: "UNICODE",
  0x58: "BINUNICODE",
  0x61: "APPEND",
  0x62: "BUILD",
  0x63: "GLOBAL",
  0x64: "DICT",
  0x7d: "EMPTY_DICT",
  0x65: "APPENDS",
  0x67: "GET",
  0x68: "BINGET",
  0x69: "INST",
  0x6a: "LONG_BINGET",
  0x6c: "LIST",
  0x5d: "EMPTY_LIST",
  0x6f: "OBJ",
  0x70: "PUT",
  0x71: "BINPUT",
  0x72: "LONG_BINPUT",
  0x73: "SETITEM",
  0x74: "TUPLE",
  0x29: "EMPTY_TUPLE",
  0x75: "SETITEMS",
  0x47: "BINFLOAT",
  0x80: "PROTO",
  0x81: "NEWOBJ",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x85: "TUPLE1",
  0x86: "TUPLE2",
  0x87: "TUPLE3",
  0x88: "NEWTRUE",
  0x89: "NEWFALSE",
  0x8a: "LONG1",
  0x8b: "LONG4",
  0x42: "BINBYTES",
  0x43: "SHORT_BINBYTES",
  0x8c: "SHORT_BINUNICODE",
  0x8d: "BINUNICODE8",
  0x8e: "BINBYTES8",
  0x8f: "EMPTY_SET",
  0x90: "ADDITEMS",
  0x91: "FROZENSET",
  0x92: "NEWOBJ_EX",
  0x93: "STACK_GLOBAL",
  0x94: "MEMOIZE",
  0x95: "FRAME",
  0x96: "BYTEARRAY8",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
};

/** The Python type name of a value, for messages (never its contents). */
export function pyTypeName(v: PyValue): string {
  if (v === null) return "None";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float";
  if (typeof v === "bigint") return "int";
  if (typeof v === "string") return "str";
  if (v instanceof PyTuple) return `tuple of ${v.items.length}`;
  if (v instanceof PyList) return "list";
  if (v instanceof PyDict) return "dict";
  if (v instanceof PyGlobal) return v.name;
  return v.pyType;
}

const latin1 = new TextDecoder("latin1");

/**
 * Runs the restricted pickle machine over `bytes` and returns what STOP
 * leaves. `what` names the pickle in messages (`"data.pkl"`). Errors are
 * TypeErrors (an opcode or value the machine refuses, a malformed stream)
 * and RangeErrors (a length past the end of the bytes), naming the file.
 */
export function unpickle(bytes: Uint8Array, src: Source, what: string, hooks: PickleHooks): PyValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const stack: PyValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PyValue>();
  let p = 0;
  let at = 0;

  const bad = (problem: string, value: unknown) =>
    typeError(src, `a PyTorch state dict: ${what} ${problem} (byte ${at})`, value);
  const need = (n: number) => {
    if (n > bytes.length - p) {
      throw rangeError(src, `a PyTorch state dict: ${what} runs past its end (${bytes.length} bytes; byte ${at})`, [
        p,
        p + n,
      ]);
    }
  };
  const u8 = () => {
    need(1);
    return bytes[p++];
  };
  const u32 = () => {
    need(4);
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const text = (n: number, decoder: TextDecoder) => {
    need(n);
    let s = "";
    // short ASCII strings (keys, names) directly: a decoder call costs more than the string
    let ascii = n <= 64;
    for (let j = p; ascii && j < p + n; j++) ascii = bytes[j] < 0x80;
    if (ascii) s = String.fromCharCode.apply(null, bytes.subarray(p, p + n) as unknown as number[]);
    else {
      try {
        s = decoder.decode(bytes.subarray(p, p + n));
      } catch {
        throw bad("has a string that is not UTF-8", n);
      }
    }
    p += n;
    return s;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0 || end - p > 1000) throw bad("has a GLOBAL whose name has no end", end - p);
    const s = text(end - p, utf8);
    p++;
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length === 0 || (marks.length > 0 && stack.length <= marks[marks.length - 1])) {
      throw bad("pops an empty stack", stack.length);
    }
    return stack.pop()!;
  };
  const top = (): PyValue => {
    if (stack.length === 0) throw bad("reads an empty stack", 0);
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const m = marks.pop();
    if (m === undefined) throw bad("closes a MARK that was never opened", 0);
    return stack.splice(m);
  };
  const get = (i: number) => {
    const v = memo.get(i);
    if (v === undefined) throw bad("reads a memo slot that was never written", i);
    stack.push(v);
  };
  const put = (i: number) => memo.set(i, top());
  const setItems = (dict: PyValue, items: PyValue[]) => {
    if (!(dict instanceof PyDict)) throw bad("sets items on something other than a dict", pyTypeName(dict));
    if (items.length % 2 !== 0) throw bad("sets a key without a value", items.length);
    for (let j = 0; j < items.length; j += 2) {
      const k = items[j];
      if (k !== null && typeof k === "object") {
        throw bad("uses a dict key that is not a str, int or bool", pyTypeName(k));
      }
      dict.map.set(k, items[j + 1]);
    }
  };
  const append = (list: PyValue, items: PyValue[]) => {
    if (!(list instanceof PyList)) throw bad("appends to something other than a list", pyTypeName(list));
    for (const x of items) list.items.push(x);
  };
  const long = (n: number): number | bigint => {
    if (n > 8) throw bad("has an integer wider than 64 bits", n);
    need(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let j = n - 1; j >= 0; j--) v = (v << 8n) | BigInt(bytes[p + j]);
    if (bytes[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    p += n;
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    at = p;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const version = u8();
        if (version < 2 || version > 5) throw bad("has a pickle protocol other than 2 to 5", version);
        break;
      }
      case 0x95: // FRAME: a length hint, the bytes follow inline
        need(8);
        p += 8;
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length !== 0) {
          throw bad("stops with other than one value on its stack", stack.length);
        }
        return stack[0];
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        need(4);
        stack.push(view.getInt32(p, true));
        p += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        need(2);
        stack.push(view.getUint16(p, true));
        p += 2;
        break;
      case 0x8a: // LONG1
        stack.push(long(u8()));
        break;
      case 0x8b: { // LONG4
        need(4);
        const n = view.getInt32(p, true);
        p += 4;
        if (n < 0) throw bad("has a negative LONG4 length", n);
        stack.push(long(n));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(p, false));
        p += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32(), utf8));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8(), utf8));
        break;
      case 0x54: { // BINSTRING
        need(4);
        const n = view.getInt32(p, true);
        p += 4;
        if (n < 0) throw bad("has a negative BINSTRING length", n);
        stack.push(text(n, latin1));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(text(u8(), latin1));
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push(new PyList([]));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop(), a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop(), b = pop(), a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x71: // BINPUT
        put(u8());
        break;
      case 0x72: // LONG_BINPUT
        put(u32());
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x68: // BINGET
        get(u8());
        break;
      case 0x6a: // LONG_BINGET
        get(u32());
        break;
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(hooks.global(module, name, at));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          throw bad("has a STACK_GLOBAL whose module or name is not a str", [pyTypeName(module), pyTypeName(name)]);
        }
        stack.push(hooks.global(module, name, at));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        if (!(fn instanceof PyGlobal)) throw bad("calls something other than an allowed global", pyTypeName(fn));
        if (!(args instanceof PyTuple)) {
          throw bad(`calls ${fn.name} with arguments that are not a tuple`, pyTypeName(args));
        }
        stack.push(hooks.reduce(fn, args.items, at));
        break;
      }
      case 0x62: { // BUILD: only a dict's instance attributes (a state dict's _metadata)
        const state = pop();
        const obj = top();
        if (!(obj instanceof PyDict) || !(state === null || state instanceof PyDict)) {
          throw bad(
            "uses BUILD on something other than a dict's attributes",
            `${pyTypeName(obj)} <- ${pyTypeName(state)}`,
          );
        }
        obj.attributes = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(hooks.persistentLoad(pop(), at));
        break;
      default: {
        const name = OPCODE_NAMES[op];
        throw bad(
          name === undefined
            ? `has byte 0x${op.toString(16).padStart(2, "0")}, which is not a pickle opcode`
            : `uses opcode ${name} (0x${op.toString(16)}), which a state dict does not need and the reader refuses`,
          name ?? op,
        );
      }
    }
  }
}
