using ILGPU;

namespace Ssd.Kernels.Conv;

/// <summary>One operand of <see cref="TiledGemm"/>: element (row, column) of a matrix that is gathered, not stored.</summary>
internal interface IGemmOperand
{
    float Load(int row, int column);
}

/// <summary>Where <see cref="TiledGemm"/> puts element (row, column) of its result.</summary>
internal interface IGemmTarget
{
    void Store(int row, int column, float value);
}

/// <summary>A dense row-major matrix at an offset: element (r, c) at offset + r * columns + c.</summary>
internal readonly struct Rows(ArrayView<float> v, int offset, int columns) : IGemmOperand, IGemmTarget
{
    public float Load(int row, int column) => v[offset + row * columns + column];

    public void Store(int row, int column, float value) => v[offset + row * columns + column] = value;
}

/// <summary>
/// An NCHW tensor as the matrix [channels, N*plane]: element (c, (n, pixel)) is v[n, c, pixel] (the convolutions'
/// inputs, outputs and output gradients as GEMM operands).
/// </summary>
internal readonly struct Planes(ArrayView<float> v, int channels, int plane) : IGemmOperand, IGemmTarget
{
    public float Load(int row, int column) => v[Index(row, column)];

    public void Store(int row, int column, float value) => v[Index(row, column)] = value;

    private int Index(int row, int column)
    {
        int n = column / plane;
        return (n * channels + row) * plane + column - n * plane;
    }
}

/// <summary>The transpose of a gathered operand: element (r, c) is the matrix's (c, r).</summary>
internal readonly struct Transposed<T>(T matrix) : IGemmOperand where T : struct, IGemmOperand
{
    public float Load(int row, int column) => matrix.Load(column, row);
}

/// <summary>
/// The body of a tiled GEMM kernel, C = A[M, K] * B[K, N] over a range of K, with operands that gather their
/// elements (an implicit im2col, a transposed weight matrix, ...) and a target that scatters the result: the
/// convolution backward kernels instantiate it with their own operand structs (ILGPU specialises the generic
/// calls, nothing is dispatched at run time). A 256-thread group computes a 64x64 tile of C, each thread a 4x4
/// micro-tile in registers (rows ty + 16i, columns tx + 16j), K advancing in chunks of 16 staged in shared memory,
/// padded to 65 floats a row so that neither the column-wise nor the row-wise staging pattern hits one bank.
/// Groups: ceil(M/64) * ceil(N/64) tiles (times the K splits the caller makes).
/// </summary>
internal static class TiledGemm
{
    public const int TileM = 64, TileN = 64, TileK = 16, GroupSize = 256;
    private const int Stride = TileM + 1;

    /// <summary>Number of 64x64 tiles of an M x N result.</summary>
    public static int Tiles(int m, int n) => (m + TileM - 1) / TileM * ((n + TileN - 1) / TileN);

    /// <summary>
    /// Computes tile <paramref name="tile"/> of C over K in [<paramref name="kBegin"/>, <paramref name="kEnd"/>) and
    /// stores it. <paramref name="bAlongK"/> picks how B is staged: false, consecutive threads read consecutive
    /// columns (B contiguous along N); true, consecutive threads read consecutive k (B contiguous along K). Pass a
    /// literal: ILGPU folds it.
    /// </summary>
    public static void Run<TA, TB, TC>(TA a, TB b, TC c, int m, int n, int tile, int kBegin, int kEnd, bool bAlongK)
        where TA : struct, IGemmOperand where TB : struct, IGemmOperand where TC : struct, IGemmTarget
    {
        var tileA = SharedMemory.Allocate<float>(TileK * Stride); // [k][m]
        var tileB = SharedMemory.Allocate<float>(TileK * Stride); // [k][n]

        int tid = Group.IdxX;
        int tilesN = (n + TileN - 1) / TileN;
        int m0 = tile / tilesN * TileM;
        int n0 = tile % tilesN * TileN;
        // A loader: reduction index aK of rows aRow + 16i (consecutive threads, consecutive k).
        int aK = tid & (TileK - 1), aRow = tid >> 4;
        int tx = tid & 15, ty = tid >> 4;
        float c00 = 0, c01 = 0, c02 = 0, c03 = 0;
        float c10 = 0, c11 = 0, c12 = 0, c13 = 0;
        float c20 = 0, c21 = 0, c22 = 0, c23 = 0;
        float c30 = 0, c31 = 0, c32 = 0, c33 = 0;

        for (int k0 = kBegin; k0 < kEnd; k0 += TileK)
        {
            int ka = k0 + aK;
            for (int i = 0; i < TileM / 16; i++)
            {
                int row = aRow + 16 * i, r = m0 + row;
                tileA[aK * Stride + row] = r < m && ka < kEnd ? a.Load(r, ka) : 0f;
            }
            if (bAlongK)
            {
                // Reduction index aK of columns aRow + 16i.
                for (int i = 0; i < TileN / 16; i++)
                {
                    int col = aRow + 16 * i, nn = n0 + col;
                    tileB[aK * Stride + col] = nn < n && ka < kEnd ? b.Load(ka, nn) : 0f;
                }
            }
            else
            {
                // Column tid % 64 for reduction indices tid / 64 + 4i.
                int col = tid & (TileN - 1), nn = n0 + col;
                for (int i = 0; i < TileK / 4; i++)
                {
                    int kk = (tid >> 6) + 4 * i, kb = k0 + kk;
                    tileB[kk * Stride + col] = nn < n && kb < kEnd ? b.Load(kb, nn) : 0f;
                }
            }
            Group.Barrier();

            for (int kk = 0; kk < TileK; kk++)
            {
                int ra = kk * Stride + ty;
                float a0 = tileA[ra], a1 = tileA[ra + 16], a2 = tileA[ra + 32], a3 = tileA[ra + 48];
                int rb = kk * Stride + tx;
                float b0 = tileB[rb], b1 = tileB[rb + 16], b2 = tileB[rb + 32], b3 = tileB[rb + 48];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }

        int row0 = m0 + ty, col0 = n0 + tx;
        StoreRow(c, m, n, row0, col0, c00, c01, c02, c03);
        StoreRow(c, m, n, row0 + 16, col0, c10, c11, c12, c13);
        StoreRow(c, m, n, row0 + 32, col0, c20, c21, c22, c23);
        StoreRow(c, m, n, row0 + 48, col0, c30, c31, c32, c33);
    }

    private static void StoreRow<TC>(TC c, int m, int n, int row, int col, float v0, float v1, float v2, float v3) where TC : struct, IGemmTarget
    {
        if (row >= m) return;
        if (col < n) c.Store(row, col, v0);
        if (col + 16 < n) c.Store(row, col + 16, v1);
        if (col + 32 < n) c.Store(row, col + 32, v2);
        if (col + 48 < n) c.Store(row, col + 48, v3);
    }
}
