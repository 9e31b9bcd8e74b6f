#!/usr/bin/env bash
# Ssd as a user gets it, from packages: packs the libraries and the `ssd` tool into a local feed (artifacts/packages),
# checks that every package carries its metadata, README, licence and XML docs, installs the tool from the feed and
# converts a real model with it, then builds and runs samples/Ssd.Sample against the packages (no project references).
# CI runs this (.ci/run). Needs the .NET SDK and the NuGet registry (the packages Ssd depends on).
#     bash samples/run.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
feed="$root/artifacts/packages"
cache="$root/artifacts/nuget-packages"   # a private package folder: the feed's packages never go stale in the global one
work="$root/artifacts/sample"
version=$(dotnet msbuild "$root/src/Ssd.Engine/Ssd.Engine.csproj" -nologo -getProperty:Version)
rm -rf "$feed" "$work" "$cache"/ssd "$cache"/ssd.*
mkdir -p "$work"
# zipped PKG: the names in a package; zipped PKG NAME: one entry's text.
zipped() { /usr/bin/python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read(sys.argv[2]).decode("utf-8-sig") if len(sys.argv) > 2 else "\n".join(z.namelist()))' "$@"; }

echo "== dotnet pack (version $version) -> $feed"
dotnet pack "$root/Ssd.sln" -c Release -o "$feed" -nologo -v quiet -clp:ErrorsOnly
expected="Ssd.Kernels Ssd.Weights Ssd.Data Ssd.Engine Ssd.Imaging ssd"
for id in $expected; do
  pkg="$feed/$id.$version.nupkg"
  [ -f "$pkg" ] || { echo "missing package $pkg" >&2; exit 1; }
  listing=$(zipped "$pkg")
  nuspec=$(zipped "$pkg" "$id.nuspec")
  for file in README.md LICENSE; do
    grep -qx "$file" <<<"$listing" || { echo "$pkg: no $file" >&2; exit 1; }
  done
  grep -q '<license type="expression">MIT</license>' <<<"$nuspec" || { echo "$pkg: no MIT licence expression" >&2; exit 1; }
  grep -q '<readme>README.md</readme>' <<<"$nuspec" || { echo "$pkg: no README" >&2; exit 1; }
  if grep -q 'Package Description' <<<"$nuspec"; then echo "$pkg: no description" >&2; exit 1; fi
  if [ "$id" != ssd ]; then
    grep -qx "lib/net10.0/$id.xml" <<<"$listing" || { echo "$pkg: no XML docs" >&2; exit 1; }
  fi
done
grep -qx 'LICENSE-DejaVu.txt' <<<"$(zipped "$feed/Ssd.Imaging.$version.nupkg")" || { echo "Ssd.Imaging: no font licence" >&2; exit 1; }
extra=$(ls "$feed" | grep -v -E "^($(tr ' ' '|' <<<"$expected"))\.$version\.nupkg\$" || true)
[ -z "$extra" ] || { echo "unexpected packages (tests, bench and samples must not pack): $extra" >&2; exit 1; }
echo "packages: $(ls "$feed" | tr '\n' ' ')"

echo "== dotnet tool install ssd from the feed"
NUGET_PACKAGES="$cache" dotnet tool install ssd --version "$version" --add-source "$feed" --tool-path "$work/tool"
ssd="$work/tool/ssd"
shared="${SSD_SHARED:-}"
[ -n "$shared" ] || { [ -d "$root/../shared" ] && shared="$root/../shared" || shared=/work/shared; }
face="$shared/models/yufacedetectnet-open-v2"
if [ -f "$face/model.caffemodel" ] && [ -f "$shared/images/keliamoniz1.jpg" ]; then
  "$ssd" convert "$face/model.caffemodel" --prototxt "$face/deploy.prototxt" --classes face -o "$work/model.safetensors"
  photo="$shared/images/keliamoniz1.jpg"
  label=face
else
  echo "(shared face model not found under $shared: using the bundled example)"
  cp "$root/examples/shapes/shapes_ssd.safetensors" "$work/model.safetensors"
  photo="$root/examples/shapes/shapes_002.jpg"
  label=triangle
fi
"$ssd" detect --model "$work/model.safetensors" "$photo" --json "$work/tool.json"
grep -q "\"label\": \"$label\"" "$work/tool.json" || { echo "the installed ssd found no $label" >&2; exit 1; }

echo "== samples/Ssd.Sample on the packages"
NUGET_PACKAGES="$cache" dotnet run --project "$root/samples/Ssd.Sample" -c Release -- "$work/model.safetensors" "$photo" "$work/annotated.png" | tee "$work/sample.txt"
grep -q "^$label " "$work/sample.txt" || { echo "the sample found no $label" >&2; exit 1; }
[ -s "$work/annotated.png" ] || { echo "the sample wrote no annotated image" >&2; exit 1; }
echo "sample ok: $(head -n 1 "$work/sample.txt")"
