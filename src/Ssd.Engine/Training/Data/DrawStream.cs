namespace Ssd.Engine.Training.Data;

/// <summary>What a <see cref="DrawStream"/> is drawn for: streams of different purposes never share a block.</summary>
internal enum DrawPurpose : ulong
{
    /// <summary>The random augmentation of one image (index, epoch).</summary>
    Augment = 0,
    /// <summary>The order of the data set's images in one epoch (index 0).</summary>
    Shuffle = 1,
}

/// <summary>
/// A counter-based random stream: Philox4x64-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as
/// 1, 2, 3", SC 2011) keyed by (seed, purpose) with the counter (block, 0, index, epoch). Every draw is a pure function
/// of those values and of how many draws came before it in the same stream, so an image's augmentation is the same on
/// any thread, in any order, on any machine. The raw words are exactly numpy's
/// <c>numpy.random.Philox(key=[seed, purpose], counter=[0, 0, index, epoch]).random_raw()</c> (numpy increments the
/// counter before each block of four words), which is how the fixture scripts replay the same draws in Python.
/// <para>Derived draws, each from one 64-bit word w: <see cref="NextFloat"/> = (w &gt;&gt; 40) * 2^-24 (torch's 24-bit
/// float), <see cref="NextDouble"/> = (w &gt;&gt; 11) * 2^-53, <see cref="NextInt"/>(n) = high 64 bits of w * n (Lemire's
/// multiply without rejection; the bias is below n / 2^64).</para>
/// </summary>
internal sealed class DrawStream
{
    private const ulong M0 = 0xD2E7470EE14C6C93UL, M1 = 0xCA5A826395121157UL;
    private const ulong W0 = 0x9E3779B97F4A7C15UL, W1 = 0xBB67AE8584CAA73BUL;

    private readonly ulong key0, key1, index, epoch;
    private ulong block;
    private readonly ulong[] words = new ulong[4];
    private int used = 4;

    public DrawStream(ulong seed, DrawPurpose purpose, ulong index, ulong epoch)
    {
        key0 = seed;
        key1 = (ulong)purpose;
        this.index = index;
        this.epoch = epoch;
    }

    /// <summary>The stream of one image's augmentation in one epoch.</summary>
    public static DrawStream ForImage(long seed, long epoch, long index) =>
        new(unchecked((ulong)seed), DrawPurpose.Augment, checked((ulong)index), checked((ulong)epoch));

    /// <summary>How many 64-bit words have been drawn.</summary>
    public long Drawn => (long)block * 4 - (4 - used);

    public ulong NextUInt64()
    {
        if (used == 4)
        {
            block++;
            Block(block, 0, index, epoch, key0, key1, words);
            used = 0;
        }
        return words[used++];
    }

    /// <summary>A float in [0, 1) with 24 random bits.</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1f / (1 << 24));

    /// <summary>A double in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>An integer in [0, n).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "the range of a random integer must be positive");
        return (int)Math.BigMul(NextUInt64(), (ulong)n, out _);
    }

    /// <summary>lo + (hi - lo) * u in float arithmetic, u = <see cref="NextFloat"/>.</summary>
    public float Uniform(float lo, float hi) => lo + (hi - lo) * NextFloat();

    /// <summary>lo + (hi - lo) * u in double arithmetic, u = <see cref="NextDouble"/>.</summary>
    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>A permutation of 0..n-1 by Fisher-Yates from the last position down: swap(p[i], p[NextInt(i + 1)]).</summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    /// <summary>Philox4x64 with 10 rounds of the counter (c0, c1, c2, c3) under the key (k0, k1).</summary>
    public static void Block(ulong c0, ulong c1, ulong c2, ulong c3, ulong k0, ulong k1, Span<ulong> output)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong hi0 = Math.BigMul(M0, c0, out ulong lo0);
            ulong hi1 = Math.BigMul(M1, c2, out ulong lo1);
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        }
        output[0] = c0; output[1] = c1; output[2] = c2; output[3] = c3;
    }
}
