# Stand-in for an external flake's overlay (inputs.lab-tools.overlays.default).
final: prev: {
  lab-banner = prev.mkLabPkg {
    pname = "lab-banner";
    version = "0.3";
    script = "echo '== lab =='";
  };
}
