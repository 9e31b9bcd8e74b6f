using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ssd.Engine.Training.Optim;

/// <summary>
/// The float operations an optimizer update needs, at one vector width. Each update rule is written once, generic
/// over this, and runs at 512, 256 or 128 bits or one float at a time (the tail, and the portable path). Every
/// operation is IEEE-correctly rounded (the multiply-add fused), so all widths give the same bits.
/// </summary>
internal unsafe interface ISimdFloat<TSelf> where TSelf : unmanaged, ISimdFloat<TSelf>
{
    static abstract int Count { get; }
    static abstract TSelf Load(float* p);
    static abstract void Store(TSelf v, float* p);
    static abstract TSelf Splat(float x);
    static abstract TSelf Add(TSelf a, TSelf b);
    static abstract TSelf Sub(TSelf a, TSelf b);
    static abstract TSelf Mul(TSelf a, TSelf b);
    static abstract TSelf Div(TSelf a, TSelf b);
    static abstract TSelf Sqrt(TSelf a);
    static abstract TSelf Max(TSelf a, TSelf b);
    /// <summary>a * b + c, rounded once.</summary>
    static abstract TSelf Fma(TSelf a, TSelf b, TSelf c);
}

internal readonly unsafe struct F1(float v) : ISimdFloat<F1>
{
    private readonly float v = v;
    public static int Count => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F1 Load(float* p) => new(*p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(F1 x, float* p) => *p = x.v;
    public static F1 Splat(float x) => new(x);
    public static F1 Add(F1 a, F1 b) => new(a.v + b.v);
    public static F1 Sub(F1 a, F1 b) => new(a.v - b.v);
    public static F1 Mul(F1 a, F1 b) => new(a.v * b.v);
    public static F1 Div(F1 a, F1 b) => new(a.v / b.v);
    public static F1 Sqrt(F1 a) => new(MathF.Sqrt(a.v));
    public static F1 Max(F1 a, F1 b) => new(MathF.Max(a.v, b.v));
    public static F1 Fma(F1 a, F1 b, F1 c) => new(MathF.FusedMultiplyAdd(a.v, b.v, c.v));
}

internal readonly unsafe struct F128(Vector128<float> v) : ISimdFloat<F128>
{
    private readonly Vector128<float> v = v;
    public static int Count => 4;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F128 Load(float* p) => new(Vector128.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(F128 x, float* p) => x.v.Store(p);
    public static F128 Splat(float x) => new(Vector128.Create(x));
    public static F128 Add(F128 a, F128 b) => new(a.v + b.v);
    public static F128 Sub(F128 a, F128 b) => new(a.v - b.v);
    public static F128 Mul(F128 a, F128 b) => new(a.v * b.v);
    public static F128 Div(F128 a, F128 b) => new(a.v / b.v);
    public static F128 Sqrt(F128 a) => new(Vector128.Sqrt(a.v));
    public static F128 Max(F128 a, F128 b) => new(Vector128.Max(a.v, b.v));
    public static F128 Fma(F128 a, F128 b, F128 c) => new(Vector128.FusedMultiplyAdd(a.v, b.v, c.v));
}

internal readonly unsafe struct F256(Vector256<float> v) : ISimdFloat<F256>
{
    private readonly Vector256<float> v = v;
    public static int Count => 8;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F256 Load(float* p) => new(Vector256.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(F256 x, float* p) => x.v.Store(p);
    public static F256 Splat(float x) => new(Vector256.Create(x));
    public static F256 Add(F256 a, F256 b) => new(a.v + b.v);
    public static F256 Sub(F256 a, F256 b) => new(a.v - b.v);
    public static F256 Mul(F256 a, F256 b) => new(a.v * b.v);
    public static F256 Div(F256 a, F256 b) => new(a.v / b.v);
    public static F256 Sqrt(F256 a) => new(Vector256.Sqrt(a.v));
    public static F256 Max(F256 a, F256 b) => new(Vector256.Max(a.v, b.v));
    public static F256 Fma(F256 a, F256 b, F256 c) => new(Vector256.FusedMultiplyAdd(a.v, b.v, c.v));
}

internal readonly unsafe struct F512(Vector512<float> v) : ISimdFloat<F512>
{
    private readonly Vector512<float> v = v;
    public static int Count => 16;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static F512 Load(float* p) => new(Vector512.Load(p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(F512 x, float* p) => x.v.Store(p);
    public static F512 Splat(float x) => new(Vector512.Create(x));
    public static F512 Add(F512 a, F512 b) => new(a.v + b.v);
    public static F512 Sub(F512 a, F512 b) => new(a.v - b.v);
    public static F512 Mul(F512 a, F512 b) => new(a.v * b.v);
    public static F512 Div(F512 a, F512 b) => new(a.v / b.v);
    public static F512 Sqrt(F512 a) => new(Vector512.Sqrt(a.v));
    public static F512 Max(F512 a, F512 b) => new(Vector512.Max(a.v, b.v));
    public static F512 Fma(F512 a, F512 b, F512 c) => new(Vector512.FusedMultiplyAdd(a.v, b.v, c.v));
}
