using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ssd.Weights.Model;

/// <summary>
/// Reads a model description in the strict form <see cref="ModelDescription.ToJson"/> writes, without
/// System.Text.Json's serializer, whose metadata for the description's types (type infos, converters and property
/// accessors instantiated over the description's enums and value types) is made by reflection and JIT-compiled at
/// every start, where ReadyToRun cannot precompile it: ~700 methods, ~0.1 s of a one-image `ssd detect` (issue 13).
/// <para>
/// The schema is the serializer's, taken from the same records and attributes, so it is said once: a property's
/// JSON name is its camelCase name, its value the property's type, a property missing from the JSON keeps the
/// record's initializer, a <c>required</c> one must be present; an enum value is its
/// <see cref="JsonStringEnumMemberNameAttribute"/> name or its camelCase name; a layer's "type" is the
/// <see cref="JsonDerivedTypeAttribute"/> discriminator, its first property.
/// </para>
/// <para>
/// Anything outside that form (malformed JSON, a null, a missing required or an unknown or repeated property, a
/// number that is not an in-range integer or finite float, an enum or a discriminator spelt otherwise) makes
/// <see cref="TryRead"/> return null, and <see cref="ModelDescription.FromJson"/> hands the text to the serializer:
/// what is accepted, each value read, and every error message stay the serializer's
/// (ModelDescriptionReaderTests checks the two agree on mutations of real descriptions).
/// </para>
/// </summary>
internal static class DescriptionReader
{
    /// <summary>The description, or null when the JSON is not in the strict form (the serializer then decides).</summary>
    public static ModelDescription? TryRead(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return TryRead(document.RootElement, typeof(ModelDescription), out var value) ? (ModelDescription?)value : null;
        }
        // Malformed JSON (JsonException), text that is not valid UTF-16 (ArgumentException), a string with an invalid
        // escape (InvalidOperationException): the serializer reads it and says what is wrong.
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException) { return null; }
    }

    private static bool TryRead(JsonElement json, Type type, out object? value)
    {
        value = null;
        switch (json.ValueKind)
        {
            case JsonValueKind.Number when type == typeof(int):
                if (!json.TryGetInt32(out int i)) return false;
                value = i;
                return true;
            case JsonValueKind.Number when type == typeof(float):
                if (!json.TryGetSingle(out float f) || !float.IsFinite(f)) return false;
                value = f;
                return true;
            case JsonValueKind.True or JsonValueKind.False when type == typeof(bool):
                value = json.ValueKind == JsonValueKind.True;
                return true;
            case JsonValueKind.String when type == typeof(string):
                value = json.GetString();
                return true;
            case JsonValueKind.String when type.IsEnum:
                return ShapeOf(type).EnumValues!.TryGetValue(json.GetString()!, out value);
            case JsonValueKind.Array when type.IsArray:
                return TryReadArray(json, type.GetElementType()!, out value);
            case JsonValueKind.Object when type.IsClass && type != typeof(string) && !type.IsArray:
                return TryReadObject(json, ShapeOf(type), out value);
            default:
                return false;
        }
    }

    private static bool TryReadArray(JsonElement json, Type elementType, out object? value)
    {
        var array = Array.CreateInstance(elementType, json.GetArrayLength());
        int k = 0;
        value = null;
        foreach (var item in json.EnumerateArray())
        {
            if (!TryRead(item, elementType, out var element)) return false;
            array.SetValue(element, k++);
        }
        value = array;
        return true;
    }

    private static bool TryReadObject(JsonElement json, Shape shape, out object? value)
    {
        value = null;
        var properties = json.EnumerateObject();
        if (shape.Derived is { } derived)
        {
            // A polymorphic base: its discriminator comes first (the serializer's default), naming a derived type.
            if (!properties.MoveNext() || properties.Current.Name != shape.Discriminator
                || properties.Current.Value.ValueKind != JsonValueKind.String
                || !derived.TryGetValue(properties.Current.Value.GetString()!, out var concrete)) return false;
            shape = ShapeOf(concrete);
        }
        if (shape.Properties is null) return false;
        // The parameterless constructor runs the initializers: a property the JSON leaves out keeps its default.
        var instance = Activator.CreateInstance(shape.Type)!;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int required = 0;
        while (properties.MoveNext())
        {
            var p = properties.Current;
            if (!shape.Properties.TryGetValue(p.Name, out var member) || !seen.Add(p.Name)
                || !TryRead(p.Value, member.Property.PropertyType, out var v)) return false;
            member.Set(instance, v);
            if (member.Required) required++;
        }
        value = instance;
        return required == shape.RequiredCount;
    }

    /// <summary>What the serializer sees of a type: its settable properties by JSON name, or its enum values, or its derived types.</summary>
    private sealed class Shape(Type type)
    {
        public Type Type { get; } = type;
        public Dictionary<string, Member>? Properties { get; init; }
        public int RequiredCount { get; init; }
        public Dictionary<string, object>? EnumValues { get; init; }
        public Dictionary<string, Type>? Derived { get; init; }
        public string? Discriminator { get; init; }
    }

    /// <summary>A settable property, and whether it is <c>required</c>.</summary>
    private sealed class Member(PropertyInfo property, bool required)
    {
        // An auto-property's value is set through its backing field where there is one: FieldInfo.SetValue writes
        // at the field's offset, where PropertyInfo.SetValue emits and JIT-compiles an invoke stub per setter on its
        // second call (~110 stubs for a description, 25 ms of start-up).
        private readonly FieldInfo? backingField = property.DeclaringType!.GetField($"<{property.Name}>k__BackingField",
            BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.DeclaredOnly);

        public PropertyInfo Property { get; } = property;
        public bool Required { get; } = required;

        public void Set(object instance, object? value)
        {
            if (backingField is not null && backingField.FieldType == Property.PropertyType) backingField.SetValue(instance, value);
            else Property.SetValue(instance, value);
        }
    }

    private static readonly Dictionary<Type, Shape> shapes = [];

    private static Shape ShapeOf(Type type)
    {
        lock (shapes)
        {
            if (!shapes.TryGetValue(type, out var shape)) shapes[type] = shape = Describe(type);
            return shape;
        }
    }

    private static string JsonName(MemberInfo member) =>
        (Attribute.GetCustomAttribute(member, typeof(JsonPropertyNameAttribute)) as JsonPropertyNameAttribute)?.Name
        ?? JsonNamingPolicy.CamelCase.ConvertName(member.Name);

    private static Shape Describe(Type type)
    {
        if (type.IsEnum)
        {
            // JsonStringEnumConverter(JsonNamingPolicy.CamelCase), as in ModelDescription.JsonOptions.
            var values = new Dictionary<string, object>(StringComparer.Ordinal);
            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Static))
                values[(Attribute.GetCustomAttribute(field, typeof(JsonStringEnumMemberNameAttribute)) as JsonStringEnumMemberNameAttribute)?.Name
                    ?? JsonNamingPolicy.CamelCase.ConvertName(field.Name)] = field.GetValue(null)!;
            return new Shape(type) { EnumValues = values };
        }
        if (Attribute.GetCustomAttribute(type, typeof(JsonPolymorphicAttribute), false) is JsonPolymorphicAttribute polymorphic)
        {
            var derived = new Dictionary<string, Type>(StringComparer.Ordinal);
            foreach (JsonDerivedTypeAttribute d in Attribute.GetCustomAttributes(type, typeof(JsonDerivedTypeAttribute), false))
                if (d.TypeDiscriminator is string name) derived[name] = d.DerivedType;
            return new Shape(type) { Derived = derived, Discriminator = polymorphic.TypeDiscriminatorPropertyName ?? "$type" };
        }
        if (type.IsAbstract || type.GetConstructor(Type.EmptyTypes) is null) return new Shape(type);
        var properties = new Dictionary<string, Member>(StringComparer.Ordinal);
        int required = 0;
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.SetMethod is not { IsPublic: true } || p.GetIndexParameters().Length > 0) continue;
            if (Attribute.GetCustomAttribute(p, typeof(JsonIgnoreAttribute)) is JsonIgnoreAttribute { Condition: JsonIgnoreCondition.Always }) continue;
            bool isRequired = p.IsDefined(typeof(RequiredMemberAttribute), false);
            properties.Add(JsonName(p), new Member(p, isRequired));
            if (isRequired) required++;
        }
        return new Shape(type) { Properties = properties, RequiredCount = required };
    }
}
