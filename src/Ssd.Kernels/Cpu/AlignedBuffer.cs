using System.Runtime.CompilerServices;

namespace Ssd.Kernels.Cpu;

/// <summary>
/// A pinned float array whose usable part starts on a 64-byte boundary, so the micro-kernels' vector loads of
/// packed panels never straddle cache lines. Pinned on the POH, so raw pointers into it stay valid for its lifetime.
/// </summary>
internal sealed unsafe class AlignedBuffer
{
    private const int AlignFloats = 16;
    private readonly float[] _array;
    private readonly int _offset;

    public AlignedBuffer(long length)
    {
        if (length < 0 || length > Array.MaxLength - AlignFloats)
            throw new ArgumentException($"cpu conv: scratch buffer of {length} floats is too large");
        _array = GC.AllocateArray<float>((int)length + AlignFloats, pinned: true);
        long address = (long)Unsafe.AsPointer(ref _array[0]);
        _offset = (int)((64 - address % 64) % 64 / sizeof(float));
        Length = (int)length;
    }

    public int Length { get; }
    public float* Pointer => (float*)Unsafe.AsPointer(ref _array[_offset]);
    public Span<float> Span => _array.AsSpan(_offset, Length);
}
