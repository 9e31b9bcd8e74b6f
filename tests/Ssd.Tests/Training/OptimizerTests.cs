using System.Text.Json;
using Ssd.Kernels.Cpu;
using Ssd.Engine.Training.Optim;

namespace Ssd.Tests.Training;

/// <summary>
/// SGD (torch's and Caffe's rule), AdamW, the LR schedules and gradient clipping against torch 1.13 trajectories
/// (tools/fixtures/make_optim_fixtures.py): every parameter after every step within 2 ulps of torch's (float
/// rounding: torch's vector kernels may order a multiply-add differently), every group's lr equal to torch's
/// double, clip_grad_norm_'s total norm within 1e-6 relative. Every vector width gives the same bits.
/// </summary>
public class OptimizerTests
{
    private static readonly Lazy<FixtureBlob> fixture = new(() => FixtureBlob.Committed("optim"));

    public static IEnumerable<string> Cases() =>
        FixtureBlob.Committed("optim").Meta.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()!);

    private static JsonElement Case(string name) =>
        fixture.Value.Meta.GetProperty("cases").EnumerateArray().First(c => c.GetProperty("name").GetString() == name);

    private static (string Name, int[] Shape)[] ParamShapes() =>
        fixture.Value.Meta.GetProperty("params").EnumerateArray().Select(p => (p[0].GetString()!, p[1].EnumerateArray().Select(d => d.GetInt32()).ToArray())).ToArray();

    private static double Get(JsonElement c, string key, double fallback) => c.TryGetProperty(key, out var v) ? v.GetDouble() : fallback;
    private static bool Flag(JsonElement c, string key) => c.TryGetProperty(key, out var v) && v.GetBoolean();

    /// <summary>The case's optimizer and schedule over fresh copies of its initial parameters.</summary>
    private static (Optimizer Opt, LrSchedule Schedule, Parameter[] Params) Build(string name, CpuOpOptions cpu)
    {
        var c = Case(name);
        var f = fixture.Value;
        var ps = ParamShapes().Select(s => new Parameter(s.Name, s.Shape, f.Floats($"{name}/init/{s.Name}"))).ToArray();
        double lr = c.GetProperty("lr").GetDouble(), wd = c.GetProperty("wd").GetDouble();
        var groups = Flag(c, "caffe_groups") ? ParameterGroup.Caffe(ps, lr, wd) : ParameterGroup.Single(ps, lr, wd);
        Optimizer opt = c.GetProperty("opt").GetString() switch
        {
            "sgd" => new Sgd(groups, Get(c, "momentum", 0), Get(c, "dampening", 0), Flag(c, "nesterov")) { Cpu = cpu },
            "caffe" => new Sgd(groups, Get(c, "momentum", 0), rule: SgdRule.Caffe) { Cpu = cpu },
            _ => new AdamW(groups, c.TryGetProperty("betas", out var b) ? b[0].GetDouble() : 0.9, c.TryGetProperty("betas", out b) ? b[1].GetDouble() : 0.999,
                Get(c, "eps", 1e-8), Flag(c, "amsgrad")) { Cpu = cpu },
        };
        var kind = c.TryGetProperty("schedule", out var s) ? (s.GetString() == "cosine" ? ScheduleKind.Cosine : ScheduleKind.MultiStep) : ScheduleKind.Constant;
        var schedule = new LrSchedule(opt, kind, (int)Get(c, "total", 0),
            c.TryGetProperty("milestones", out var m) ? m.EnumerateArray().Select(x => x.GetInt32()).ToArray() : null,
            0.1, (int)Get(c, "warmup", 0), Get(c, "warmup_factor", 1.0 / 1000));
        return (opt, schedule, ps);
    }

    private static float[][] Run(string name, CpuOpOptions cpu, Action<int, Optimizer, Parameter[]>? afterStep = null)
    {
        var (opt, schedule, ps) = Build(name, cpu);
        var c = Case(name);
        var f = fixture.Value;
        int steps = f.Meta.GetProperty("steps").GetInt32();
        for (int step = 0; step < steps; step++)
        {
            foreach (var p in ps) f.Floats($"{name}/step{step}/grad/{p.Name}").CopyTo(p.Grad, 0);
            if (c.TryGetProperty("clip", out var clip))
            {
                float norm = GradientClipping.ClipByNorm(ps, clip.GetDouble(), cpu);
                MultiBoxLossTests.AssertRelative(norm, f.Floats($"{name}/norms")[step], $"step {step}: total norm", 1e-6);
            }
            opt.Step();
            schedule.Step();
            afterStep?.Invoke(step, opt, ps);
        }
        return ps.Select(p => p.Value).ToArray();
    }

    [TestCaseSource(nameof(Cases))]
    public void TrajectoryEqualsTorch(string name)
    {
        var f = fixture.Value;
        int worstUlps = 0;
        Run(name, default, (step, opt, ps) =>
        {
            var lr = f.Doubles($"{name}/step{step}/lr");
            for (int g = 0; g < lr.Length; g++)
                Assert.That(opt.Groups[g].Lr, Is.EqualTo(lr[g]), $"step {step}: group {g} lr");
            foreach (var p in ps)
            {
                var expected = f.Floats($"{name}/step{step}/value/{p.Name}");
                for (int i = 0; i < expected.Length; i++)
                {
                    int ulps = Ulps(p.Value[i], expected[i]);
                    worstUlps = Math.Max(worstUlps, ulps);
                    if (ulps > 2) Assert.Fail($"step {step}: {p.Name}[{i}] is {p.Value[i]:G9}, torch {expected[i]:G9} ({ulps} ulps)");
                }
            }
        });
        TestContext.Out.WriteLine($"{name}: largest difference from torch {worstUlps} ulps");
    }

    [TestCaseSource(nameof(Cases))]
    public void EveryVectorWidthAndThreadCountGivesTheSameBits(string name)
    {
        var reference = Run(name, new CpuOpOptions(CpuIsa.Portable, 1));
        foreach (var isa in new[] { CpuIsa.Portable, CpuIsa.Avx2, CpuIsa.Avx512 }.Where(CpuIsaSupport.IsSupported))
        {
            var other = Run(name, new CpuOpOptions(isa, 2));
            for (int k = 0; k < reference.Length; k++) Assert.That(other[k], Is.EqualTo(reference[k]), $"{isa}: parameter {k}");
        }
    }

    [Test]
    public void LargeTensorsUpdateChunkByChunkAsOneWhole([Values(CpuIsa.Portable, CpuIsa.Avx2, CpuIsa.Avx512)] CpuIsa isa)
    {
        if (!CpuIsaSupport.IsSupported(isa)) Assert.Ignore($"{isa} not supported here");
        // 100003 floats: four chunks of the optimizer and a tail; the same tensor as 1-float parameters is the reference.
        const int n = 100_003;
        var value = TestData.Uniform(1, n);
        var grad = TestData.Uniform(2, n);
        var big = new Parameter("big.weight", [n], (float[])value.Clone(), (float[])grad.Clone());
        var opt = new AdamW(ParameterGroup.Single([big], 1e-3, 1e-2)) { Cpu = new CpuOpOptions(isa, 2) };
        var small = Enumerable.Range(0, 64).Select(i => new Parameter($"p{i}.weight", [1], [value[i]], [grad[i]])).ToArray();
        var opt1 = new AdamW(ParameterGroup.Single(small, 1e-3, 1e-2)) { Cpu = new CpuOpOptions(CpuIsa.Portable, 1) };
        for (int s = 0; s < 3; s++) { opt.Step(); opt1.Step(); }
        for (int i = 0; i < small.Length; i++) Assert.That(big.Value[i], Is.EqualTo(small[i].Value[0]), $"element {i}");
        Assert.That(big.Value.All(float.IsFinite));
    }

    [TestCaseSource(nameof(Cases))]
    public void StateRoundTripsThroughAFileAndResumesExactly(string name)
    {
        var f = fixture.Value;
        int steps = f.Meta.GetProperty("steps").GetInt32(), half = steps / 2;
        var straight = Run(name, default);
        // Run half, save the optimizer and the schedulers, load into a fresh optimizer, run the rest.
        var (opt, schedule, ps) = Build(name, default);
        var c = Case(name);
        void Feed(int step, Optimizer o, LrSchedule sch, Parameter[] pars)
        {
            foreach (var p in pars) f.Floats($"{name}/step{step}/grad/{p.Name}").CopyTo(p.Grad, 0);
            if (c.TryGetProperty("clip", out var clip)) GradientClipping.ClipByNorm(pars, clip.GetDouble());
            o.Step();
            sch.Step();
        }
        for (int step = 0; step < half; step++) Feed(step, opt, schedule, ps);
        string path = Path.Combine(Path.GetTempPath(), $"ssd-optim-{name}-{Guid.NewGuid():N}.safetensors");
        try
        {
            opt.ExportState().Save(path);
            string warm = schedule.Warmup?.ExportState() ?? "", main = schedule.Main?.ExportState() ?? "";
            var (opt2, schedule2, ps2) = Build(name, default);
            for (int k = 0; k < ps.Length; k++) ps[k].Value.CopyTo(ps2[k].Value, 0);
            opt2.ImportState(OptimizerState.Load(path));
            if (schedule2.Warmup is { } w) w.ImportState(warm);
            if (schedule2.Main is { } m) m.ImportState(main);
            Assert.That(opt2.Steps, Is.EqualTo(half));
            for (int step = half; step < steps; step++) Feed(step, opt2, schedule2, ps2);
            for (int k = 0; k < ps.Length; k++) Assert.That(ps2[k].Value, Is.EqualTo(straight[k]), $"{ps[k].Name} after resuming");
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void BadStatesAreRefusedWithTheirReason()
    {
        var (opt, _, _) = Build("sgd_momentum", default);
        opt.Step();
        var state = opt.ExportState();
        var adam = Build("adamw", default).Opt;
        Assert.That(() => adam.ImportState(state), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("sgd"));
        var wrongSize = state with { Buffers = state.Buffers.ToDictionary(b => b.Key, b => b.Value[..^1]) };
        Assert.That(() => Build("sgd_momentum", default).Opt.ImportState(wrongSize), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("floats"));
        var unknown = state with { Buffers = new Dictionary<string, float[]> { ["nope.weight/momentum_buffer"] = [1f] } };
        Assert.That(() => Build("sgd_momentum", default).Opt.ImportState(unknown), Throws.InstanceOf<InvalidDataException>().With.Message.Contains("unknown parameter"));
        var (tensors, _) = state.ToTensors();
        Assert.That(() => OptimizerState.FromTensors(tensors.ToDictionary(t => t.Name), "{not json"), Throws.InstanceOf<InvalidDataException>());
        Assert.That(() => new Sgd(ParameterGroup.Single([], 1, 0), momentum: -1), Throws.ArgumentException);
        Assert.That(() => new ParameterGroup([], double.NaN), Throws.ArgumentException);
    }

    /// <summary>Distance in units of the last place (0 for equal bits, also for -0 and +0).</summary>
    internal static int Ulps(float a, float b)
    {
        if (a == b) return 0;
        if (!float.IsFinite(a) || !float.IsFinite(b)) return int.MaxValue;
        static long Ordered(float x) { int i = BitConverter.SingleToInt32Bits(x); return i < 0 ? int.MinValue - (long)i : i; }
        return (int)Math.Min(int.MaxValue, Math.Abs(Ordered(a) - Ordered(b)));
    }
}
