using System.Reflection;
using ILGPU.Runtime.OpenCL;

namespace Ssd.Kernels.Core;

/// <summary>
/// The one place where Ssd works around ILGPU's refusal of PoCL.
/// </summary>
/// <remarks>
/// ILGPU 1.5.3 demands the OpenCL "generic address space" capability before it creates an accelerator,
/// and PoCL's CPU device (OpenCL 3.0, where the feature is optional) does not report it. The OpenCL C that
/// ILGPU generates nevertheless compiles and runs correctly on PoCL, provided the context optimises at O2:
/// ILGPU's address-space inference then turns every pointer into a concrete global/local/private one, so no
/// `__generic` qualifier (which PoCL's compiler rejects) is left in the source. <see cref="ComputeDevice"/>
/// always creates its context with O2. So, for PoCL devices only, the capability flag is set through its
/// non-public setter before the accelerator is created.
/// </remarks>
internal static class PoclCompatibility
{
    /// <summary>True when the device is PoCL (the portable CPU OpenCL implementation).</summary>
    public static bool IsPocl(CLDevice device) =>
        device.PlatformName.Contains("Portable Computing Language", StringComparison.OrdinalIgnoreCase)
        || device.PlatformName.Contains("pocl", StringComparison.OrdinalIgnoreCase);

    /// <summary>Forces GenericAddressSpace on for a PoCL device; leaves any other device alone.</summary>
    public static void ForceGenericAddressSpace(CLDevice device)
    {
        if (!IsPocl(device) || device.Capabilities.GenericAddressSpace)
            return;
        var setter = typeof(CLCapabilityContext)
            .GetProperty(nameof(CLCapabilityContext.GenericAddressSpace), BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            ?.GetSetMethod(nonPublic: true)
            ?? throw new InvalidOperationException(
                "ILGPU's CLCapabilityContext.GenericAddressSpace cannot be set in this ILGPU version; PoCL cannot be used.");
        setter.Invoke(device.Capabilities, [true]);
    }
}
