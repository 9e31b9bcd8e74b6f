using Ssd.Engine.Graph;
using Ssd.Engine.Training.Init;
using Ssd.Engine.Training.Optim;
using Ssd.Weights.Model;
using Ssd.Weights.Model.Architecture;
using Ssd.Weights.Tensors;

namespace Ssd.Cli.Training;

/// <summary>
/// Fine-tuning a trained SSD on other classes (`--model M --classes a,b,c`) and freezing its backbone
/// (`--freeze-backbone`). New classes change only the classification heads (their output channels are boxes x
/// classes): the model's layout is found among the architecture vocabulary's VGG16-SSDs (SSD300 / SSD512, the width
/// divisors), the same architecture is built for the new classes, every tensor the two share by name and shape is
/// kept (backbone, extras, L2Norm, the box-regression heads) and the rest (the confidence heads) starts from the
/// flavour's initialisation (<see cref="WeightInit"/>).
/// </summary>
public static class FineTune
{
    /// <summary>The model for <paramref name="classes"/> (without the background) and the tensors re-initialised.
    /// Throws NotSupportedException when the model is not one of the vocabulary's VGG16-SSDs.</summary>
    public static (ModelDescription Model, ModelWeights Weights, IReadOnlyList<string> Reinitialised) NewClasses(
        ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors, IReadOnlyList<string> classes, ulong seed)
    {
        var (size, divisor) = Layout(model, tensors)
            ?? throw new NotSupportedException($"--classes: the model {model.Name} is not one of the VGG16-SSD layouts (SSD300, SSD512, any width divisor) whose heads can be rebuilt");
        var post = model.PostProcess;
        string background = post.ClassNames is { } names && post.BackgroundId < names.Length ? names[post.BackgroundId] : "background";
        var fresh = VggSsd.Create(model.Flavor, size, classes.Count + 1, divisor);
        var description = fresh.Description with
        {
            Input = model.Input,
            PostProcess = post with { NumClasses = classes.Count + 1, BackgroundId = 0, ClassNames = [background, .. classes] },
        };
        var weights = ModelWeights.From(fresh.Tensors);
        WeightInit.Initialize(model.Flavor, weights, seed);
        var fresh_ = new List<string>();
        foreach (var name in weights.Names.Order(StringComparer.Ordinal))
        {
            if (tensors.TryGetValue(name, out var old) && old.Shape.SequenceEqual(weights.Shape(name))) old.ToFloat32().CopyTo(weights[name], 0);
            else fresh_.Add(name);
        }
        return (description, weights, fresh_);
    }

    /// <summary>The (input size, width divisor) of the vocabulary's VGG16-SSD with exactly these tensors, if any.</summary>
    private static (int Size, int Divisor)? Layout(ModelDescription model, IReadOnlyDictionary<string, TensorData> tensors)
    {
        foreach (int size in (int[])[300, 512])
            foreach (int divisor in (int[])[1, 2, 4, 8, 16, 32])
            {
                IReadOnlyDictionary<string, TensorData> candidate;
                try { candidate = VggSsd.Create(model.Flavor, size, model.PostProcess.NumClasses, divisor).Tensors; }
                catch (ArgumentException) { continue; }
                if (candidate.Count == tensors.Count && candidate.All(c => tensors.TryGetValue(c.Key, out var t) && t.Shape.SequenceEqual(c.Value.Shape)))
                    return (size, divisor);
            }
        return null;
    }

    /// <summary>The parameters the optimizer updates: all, or all but the backbone's (--freeze-backbone).</summary>
    public static IEnumerable<Parameter> Trainable(ModelFlavor flavor, IReadOnlyList<Parameter> parameters, bool freezeBackbone)
    {
        if (!freezeBackbone) return parameters;
        var trainable = new List<Parameter>();
        foreach (var p in parameters)
        {
            ParameterRole role;
            try { role = WeightInit.RoleFromName(flavor, p.Name); }
            catch (ArgumentException e) { throw new NotSupportedException($"--freeze-backbone: {e.Message}", e); }
            if (role != ParameterRole.Backbone) trainable.Add(p);
        }
        if (trainable.Count == parameters.Count) throw new NotSupportedException("--freeze-backbone: no backbone tensor found in the model");
        return trainable;
    }
}
