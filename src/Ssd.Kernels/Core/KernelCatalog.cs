using System.Reflection;

namespace Ssd.Kernels.Core;

/// <summary>One kernel entry point and the specialisation it is launched with.</summary>
internal sealed record KernelEntry(string Family, string Name, MethodInfo Method, int GroupSize, int MinSm = 0)
{
    public bool ExplicitlyGrouped => GroupSize > 0;

    /// <summary>True when the kernel can run on an sm_XX architecture (see <see cref="KernelAttribute.MinSm"/>).</summary>
    public bool RunsOnSm(int sm) => sm >= MinSm;
    public string FullName => $"{Family}.{Name}";
}

/// <summary>Every kernel in Ssd.Kernels, found through <see cref="KernelAttribute"/>.</summary>
internal static class KernelCatalog
{
    public static IReadOnlyList<KernelEntry> All { get; } = Discover(typeof(KernelCatalog).Assembly);

    public static IReadOnlyList<KernelEntry> Discover(Assembly assembly) =>
        assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attr: m.GetCustomAttribute<KernelAttribute>()))
            .Where(x => x.Attr is not null)
            .Select(x => new KernelEntry(x.Attr!.Family, x.Method.Name, x.Method, x.Attr.GroupSize, x.Attr.MinSm))
            .OrderBy(e => e.FullName, StringComparer.Ordinal)
            .ToList();
}
