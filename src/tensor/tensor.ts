// The Tensor class: a thin JS handle (an integer id into the addon's tensor table).
// Metadata is fetched lazily and cached, so an op costs one native call.
import { N } from './native';
import { DType, Device, Shape, dtypeCode, dtypeFromCode, deviceCode, deviceFromCode } from './dtype';
import { TRACKED, Tracked, track } from './scope';

// Safety net for tensors that escape every scope and are never disposed. Registration costs ~0.25 µs,
// so tensors created inside tidy() are registered only if they escape it (or are kept).
const finalizer = new FinalizationRegistry<number>((id) => N.release(id));

/** Id of a live tensor; throws the documented error for a disposed one. */
export function idOf(t: Tensor, op: string): number {
  if (t._disposed) throw new Error(`tensor used after dispose (op: ${op})`);
  return t._id;
}

export class Tensor implements Tracked {
  /** @internal */ _id: number;
  /** @internal */ _disposed = false;
  private _kept = false;
  private _finalizable = false;
  private _shape: number[] | undefined;
  private _dtype: DType | undefined;
  private _device: Device | undefined;

  /** @internal Wraps a native id; use the creation functions instead. */
  constructor(id: number) {
    this._id = id;
    if (!track(this)) this.untracked();
  }

  /** @internal */
  untracked(): void {
    if (this._finalizable || this._disposed) return;
    this._finalizable = true;
    finalizer.register(this, this._id, this);
  }

  get [TRACKED](): true {
    return true;
  }

  // ---- metadata ----
  /** Frozen (cached per handle): mutate a copy, e.g. [...t.shape]. */
  get shape(): number[] {
    return (this._shape ??= Object.freeze(N.shape(idOf(this, 'shape'))) as number[]);
  }
  get dtype(): DType {
    return (this._dtype ??= dtypeFromCode(N.dtype(idOf(this, 'dtype'))));
  }
  get device(): Device {
    return (this._device ??= deviceFromCode(N.device(idOf(this, 'device'))));
  }
  get ndim(): number {
    return this.shape.length;
  }
  numel(): number {
    let n = 1;
    for (const s of this.shape) n *= s;
    return n;
  }
  toString(): string {
    return this._disposed
      ? 'Tensor(disposed)'
      : `Tensor(${this.dtype}[${this.shape.join(',')}]${this.device === 'cuda' ? '@cuda' : ''})`;
  }

  // ---- conversion ----
  /** Values as JS numbers (int64 beyond 2^53 loses precision; bool -> 0/1). */
  toArray(): number[] {
    switch (this.dtype) {
      case 'float64':
        return Array.from(new Float64Array(N.toBytes(idOf(this, 'toArray'))));
      case 'int64':
        return Array.from(new BigInt64Array(N.toBytes(idOf(this, 'toArray'))), Number);
      case 'int32':
        return Array.from(new Int32Array(N.toBytes(idOf(this, 'toArray'))));
      case 'bool':
        return Array.from(new Uint8Array(N.toBytes(idOf(this, 'toArray'))));
      default:
        return Array.from(this.toFloat32Array());
    }
  }
  toFloat32Array(): Float32Array {
    return new Float32Array(N.toBytes(idOf(this, 'toFloat32Array'), 0));
  }
  toFloat64Array(): Float64Array {
    return new Float64Array(N.toBytes(idOf(this, 'toFloat64Array'), 1));
  }
  toInt32Array(): Int32Array {
    return new Int32Array(N.toBytes(idOf(this, 'toInt32Array'), 5));
  }
  toBigInt64Array(): BigInt64Array {
    return new BigInt64Array(N.toBytes(idOf(this, 'toBigInt64Array'), 4));
  }
  /** Raw little-endian bytes in this tensor's dtype (bf16: 2 bytes each), contiguous, copied to CPU. */
  toBuffer(): Uint8Array {
    return new Uint8Array(N.toBytes(idOf(this, 'toBuffer')));
  }
  item(): number {
    return N.item(idOf(this, 'item'));
  }
  to(dtype: DType): Tensor {
    return new Tensor(N.to(idOf(this, 'to'), dtypeCode(dtype)));
  }
  toDevice(device: Device): Tensor {
    return new Tensor(N.toDevice(idOf(this, 'toDevice'), deviceCode(device)));
  }
  float(): Tensor {
    return this.to('float32');
  }
  clone(): Tensor {
    return new Tensor(N.clone(idOf(this, 'clone')));
  }

  // ---- shape ----
  reshape(shape: Shape): Tensor {
    return new Tensor(N.reshape(idOf(this, 'reshape'), shape));
  }
  view(shape: Shape): Tensor {
    return new Tensor(N.view(idOf(this, 'view'), shape));
  }
  permute(dims: Shape): Tensor {
    return new Tensor(N.permute(idOf(this, 'permute'), dims));
  }
  transpose(a: number, b: number): Tensor {
    return new Tensor(N.transpose(idOf(this, 'transpose'), a, b));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(N.narrow(idOf(this, 'narrow'), dim, start, length));
  }
  contiguous(): Tensor {
    return new Tensor(N.contiguous(idOf(this, 'contiguous')));
  }
  squeeze(dim: number): Tensor {
    return new Tensor(N.squeeze(idOf(this, 'squeeze'), dim));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(N.unsqueeze(idOf(this, 'unsqueeze'), dim));
  }
  expand(shape: Shape): Tensor {
    return new Tensor(N.expand(idOf(this, 'expand'), shape));
  }
  flatten(start = 0, end = -1): Tensor {
    return new Tensor(N.flatten(idOf(this, 'flatten'), start, end));
  }

  // ---- elementwise ----
  add(o: Tensor | number): Tensor {
    return this.bin('add', o, N.add, N.addS);
  }
  sub(o: Tensor | number): Tensor {
    return this.bin('sub', o, N.sub, N.subS);
  }
  mul(o: Tensor | number): Tensor {
    return this.bin('mul', o, N.mul, N.mulS);
  }
  div(o: Tensor | number): Tensor {
    return this.bin('div', o, N.div, N.divS);
  }
  neg(): Tensor {
    return new Tensor(N.neg(idOf(this, 'neg')));
  }
  pow(e: number): Tensor {
    return new Tensor(N.pow(idOf(this, 'pow'), e));
  }
  sqrt(): Tensor {
    return new Tensor(N.sqrt(idOf(this, 'sqrt')));
  }
  rsqrt(): Tensor {
    return new Tensor(N.rsqrt(idOf(this, 'rsqrt')));
  }
  exp(): Tensor {
    return new Tensor(N.exp(idOf(this, 'exp')));
  }
  log(): Tensor {
    return new Tensor(N.log(idOf(this, 'log')));
  }
  abs(): Tensor {
    return new Tensor(N.abs(idOf(this, 'abs')));
  }
  tanh(): Tensor {
    return new Tensor(N.tanh(idOf(this, 'tanh')));
  }
  sigmoid(): Tensor {
    return new Tensor(N.sigmoid(idOf(this, 'sigmoid')));
  }
  relu(): Tensor {
    return new Tensor(N.relu(idOf(this, 'relu')));
  }
  /** 'tanh' is T5 v1.1's "gelu_new". */
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return new Tensor(N.gelu(idOf(this, 'gelu'), approximate === 'tanh'));
  }
  minimum(o: Tensor | number): Tensor {
    return this.bin('minimum', o, N.minimum, N.minimumS);
  }
  maximum(o: Tensor | number): Tensor {
    return this.bin('maximum', o, N.maximum, N.maximumS);
  }
  clamp(min?: number, max?: number): Tensor {
    return new Tensor(N.clamp(idOf(this, 'clamp'), min ?? NaN, max ?? NaN));
  }
  eq(o: Tensor | number): Tensor {
    return this.bin('eq', o, N.eq, N.eqS);
  }
  ne(o: Tensor | number): Tensor {
    return this.bin('ne', o, N.ne, N.neS);
  }
  lt(o: Tensor | number): Tensor {
    return this.bin('lt', o, N.lt, N.ltS);
  }
  le(o: Tensor | number): Tensor {
    return this.bin('le', o, N.le, N.leS);
  }
  gt(o: Tensor | number): Tensor {
    return this.bin('gt', o, N.gt, N.gtS);
  }
  ge(o: Tensor | number): Tensor {
    return this.bin('ge', o, N.ge, N.geS);
  }
  logicalAnd(o: Tensor): Tensor {
    return new Tensor(N.logicalAnd(idOf(this, 'logicalAnd'), idOf(o, 'logicalAnd')));
  }
  logicalOr(o: Tensor): Tensor {
    return new Tensor(N.logicalOr(idOf(this, 'logicalOr'), idOf(o, 'logicalOr')));
  }
  logicalNot(): Tensor {
    return new Tensor(N.logicalNot(idOf(this, 'logicalNot')));
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return new Tensor(N.maskedFill(idOf(this, 'maskedFill'), idOf(mask, 'maskedFill'), value));
  }

  // ---- linear algebra ----
  matmul(o: Tensor): Tensor {
    return new Tensor(N.matmul(idOf(this, 'matmul'), idOf(o, 'matmul')));
  }
  bmm(o: Tensor): Tensor {
    return new Tensor(N.bmm(idOf(this, 'bmm'), idOf(o, 'bmm')));
  }

  // ---- reductions ----
  sum(dim?: number | readonly number[], keepdim = false): Tensor {
    return new Tensor(N.sum(idOf(this, 'sum'), dim, keepdim));
  }
  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    return new Tensor(N.mean(idOf(this, 'mean'), dim, keepdim));
  }
  /** Without dim: the maximum over everything. With dim: the values (see argmax for indices). */
  max(dim?: number, keepdim = false): Tensor {
    return new Tensor(N.max(idOf(this, 'max'), dim, keepdim));
  }
  min(dim?: number, keepdim = false): Tensor {
    return new Tensor(N.min(idOf(this, 'min'), dim, keepdim));
  }
  argmax(dim: number, keepdim = false): Tensor {
    return new Tensor(N.argmax(idOf(this, 'argmax'), dim, keepdim));
  }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    const [v, i] = N.topk(idOf(this, 'topk'), k, dim, largest);
    return { values: new Tensor(v), indices: new Tensor(i) };
  }
  logsumexp(dim: number | readonly number[], keepdim = false): Tensor {
    return new Tensor(N.logsumexp(idOf(this, 'logsumexp'), dim, keepdim));
  }
  softmax(dim: number): Tensor {
    return new Tensor(N.softmax(idOf(this, 'softmax'), dim));
  }
  logSoftmax(dim: number): Tensor {
    return new Tensor(N.logSoftmax(idOf(this, 'logSoftmax'), dim));
  }
  cumsum(dim: number): Tensor {
    return new Tensor(N.cumsum(idOf(this, 'cumsum'), dim));
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = N.sort(idOf(this, 'sort'), dim, descending);
    return { values: new Tensor(v), indices: new Tensor(i) };
  }

  // ---- indexing ----
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(N.gather(idOf(this, 'gather'), dim, idOf(index, 'gather')));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(N.indexSelect(idOf(this, 'indexSelect'), dim, idOf(index, 'indexSelect')));
  }
  scatter(dim: number, index: Tensor, src: Tensor | number): Tensor {
    const a = idOf(this, 'scatter');
    const i = idOf(index, 'scatter');
    return new Tensor(
      typeof src === 'number' ? N.scatterS(a, dim, i, src) : N.scatter(a, dim, i, idOf(src, 'scatter')),
    );
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return N.requiresGrad(idOf(this, 'requiresGrad'));
  }
  set requiresGrad(b: boolean) {
    N.setRequiresGrad(idOf(this, 'setRequiresGrad'), b);
  }
  setRequiresGrad(b: boolean): this {
    N.setRequiresGrad(idOf(this, 'setRequiresGrad'), b);
    return this;
  }
  /**
   * PyTorch's `t.data = other`: this handle (and every other on the same tensor) now holds `other`'s storage, dtype and
   * shape, keeping requires_grad; how Module.half() changes a parameter's dtype in place. Other handles created before
   * keep stale cached metadata, so call it before the tensor is shared (a model's load).
   */
  setData_(other: Tensor): this {
    N.setData(idOf(this, 'setData_'), idOf(other, 'setData_'));
    this._shape = undefined;
    this._dtype = undefined;
    return this;
  }
  /** A new handle on the accumulated gradient (shares storage), or null. Dispose it like any tensor. */
  get grad(): Tensor | null {
    const g = N.grad(idOf(this, 'grad'));
    return g === 0 ? null : new Tensor(g);
  }
  /** Drops the gradient (set_to_none semantics). */
  zeroGrad(): void {
    N.zeroGrad(idOf(this, 'zeroGrad'));
  }
  backward(grad?: Tensor): void {
    N.backward(idOf(this, 'backward'), grad ? idOf(grad, 'backward') : 0);
  }
  detach(): Tensor {
    return new Tensor(N.detach(idOf(this, 'detach')));
  }

  // ---- in place, outside autograd ----
  copy_(src: Tensor): this {
    N.copy_(idOf(this, 'copy_'), idOf(src, 'copy_'));
    return this;
  }
  fill_(v: number): this {
    N.fill_(idOf(this, 'fill_'), v);
    return this;
  }
  /** this[..., index[i], ...] = src[..., i, ...] along `dim` (index: int64 [n], distinct). */
  indexCopy_(dim: number, index: Tensor, src: Tensor): this {
    N.indexCopy_(idOf(this, 'indexCopy_'), dim, idOf(index, 'indexCopy_'), idOf(src, 'indexCopy_'));
    return this;
  }
  normal_(mean = 0, std = 1): this {
    N.normal_(idOf(this, 'normal_'), mean, std);
    return this;
  }
  uniform_(lo = 0, hi = 1): this {
    N.uniform_(idOf(this, 'uniform_'), lo, hi);
    return this;
  }

  // ---- memory ----
  get isDisposed(): boolean {
    return this._disposed;
  }
  get isKept(): boolean {
    return this._kept;
  }
  /** Frees the native tensor now. Idempotent. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    if (this._finalizable) finalizer.unregister(this);
    N.release(this._id);
  }
  /** Survive every enclosing tidy(); the caller then owns it (dispose() it when done). */
  keep(): this {
    this._kept = true;
    this.untracked();
    return this;
  }

  private bin(
    op: string,
    o: Tensor | number,
    tt: (a: number, b: number) => number,
    ts: (a: number, s: number) => number,
  ): Tensor {
    const a = idOf(this, op);
    return new Tensor(typeof o === 'number' ? ts(a, o) : tt(a, idOf(o, op)));
  }
}

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}
