# The lab's stand-in nixpkgs: a tiny package set of /bin/sh derivations.
# major is the channel's major version: "2" unstable, "1" stable.
major: { system }:
let
  lib = rec {
    mkOrder = priority: content: { _type = "order"; inherit priority content; };
    optionalAttrs = c: s: if c then s else { };
    elem = builtins.elem;
    composeExtensions = f: g: final: prev:
      let fApplied = f final prev; prev' = prev // fApplied; in fApplied // g final prev';
    composeManyExtensions = l: builtins.foldl' composeExtensions (final: prev: { }) l;
  };
  platform = {
    inherit system;
    isDarwin = builtins.match ".*-darwin" system != null;
    isLinux = builtins.match ".*-linux" system != null;
  };
  # A lab package: a derivation built with /bin/sh (for x86_64-linux, the
  # lab's only real platform), overridable like a nixpkgs package.
  mkLabPkg = attrs:
    let
      drv = derivation {
        name = "${attrs.pname}-${attrs.version}";
        system = "x86_64-linux";
        builder = "/bin/sh";
        args = [ "-c" "echo '#!/bin/sh' > $out; echo \"$script\" >> $out" ];
        inherit (attrs) script;
        doCheck = if attrs.doCheck or true then "1" else "";
      };
    in
    drv // attrs // { overrideAttrs = f: mkLabPkg (attrs // f attrs); };
  self = {
    inherit lib system mkLabPkg;
    stdenv = platform // { hostPlatform = platform; };
    greet = mkLabPkg { pname = "greet"; version = "${major}.0"; script = "echo hello"; };
    clock = mkLabPkg { pname = "clock"; version = "${major}.1"; script = "date"; };
    callPackage = f: args: f (builtins.intersectAttrs (builtins.functionArgs f) self // args);
  };
in
self
