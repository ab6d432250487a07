# atuin-format: print atuin shell history as "time  duration  command" lines
#
# A custom package (Layer 3): auto-discovered by pkgs-by-name-for-flake-parts
# and merged into flake.overlays.default after every overlay layer.
{
  lib,
  writeShellApplication,
  atuin,
  jq,
}:
writeShellApplication {
  name = "atuin-format";
  runtimeInputs = [
    atuin
    jq
  ];
  text = ''
    atuin history list --format '{time}\t{duration}\t{command}' "$@"
  '';
  meta = {
    description = "Print atuin history as aligned time, duration and command columns";
    license = lib.licenses.mit;
    mainProgram = "atuin-format";
  };
}
