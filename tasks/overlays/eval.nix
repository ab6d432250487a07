# Stand-in evaluation of overlay modules, run by the overlay checker with
# nix-instantiate --eval --strict --json. It needs no flake inputs and no
# nixpkgs: each module is called with stand-in module arguments (a small
# lib, inputs whose overlays are opaque, a config), and each overlay it
# appends to nixpkgsOverlays is applied to a stand-in package set once per
# system, so the checker learns which attributes each overlay defines on
# which platform, and where (builtins.unsafeGetAttrPos).
#
# input (JSON): { systems = [ "x86_64-linux" ... ];
#                 files = [ { path; names = [ attrs read from final/prev ];
#                             inputs = { <input> = [ <overlay names> ]; }; } ]; }
{ input }:
let
  cfg = builtins.fromJSON input;
  inherit (builtins)
    attrNames isFunction isAttrs isList listToAttrs map filter elem foldl' tryEval
    functionArgs intersectAttrs unsafeGetAttrPos;

  lib = rec {
    mkOrder = priority: content: { _type = "order"; inherit priority content; };
    mkBefore = mkOrder 500;
    mkAfter = mkOrder 1500;
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkDefault = content: { _type = "override"; priority = 1000; inherit content; };
    mkForce = content: { _type = "override"; priority = 50; inherit content; };
    mkOption = x: x;
    types = { };
    optionalAttrs = c: s: if c then s else { };
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: l: if c then l else [ ];
    optionalString = c: s: if c then s else "";
    elem = builtins.elem;
    id = x: x;
    const = x: _: x;
    flip = f: a: b: f b a;
    warn = _: x: x;
    attrNames = builtins.attrNames;
    attrValues = builtins.attrValues;
    mapAttrs = builtins.mapAttrs;
    filterAttrs = p: s: listToAttrs (map (n: { name = n; value = s.${n}; }) (filter (n: p n s.${n}) (attrNames s)));
    genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
    nameValuePair = name: value: { inherit name value; };
    listToAttrs = builtins.listToAttrs;
    foldl' = builtins.foldl';
    foldr = op: nul: list: foldl' (acc: x: op x acc) nul (reverseList list);
    reverseList = l: builtins.genList (i: builtins.elemAt l (builtins.length l - i - 1)) (builtins.length l);
    concatStringsSep = builtins.concatStringsSep;
    concatLists = builtins.concatLists;
    hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
    hasSuffix = p: s: let n = builtins.stringLength s; m = builtins.stringLength p; in
      n >= m && builtins.substring (n - m) m s == p;
    versionOlder = a: b: builtins.compareVersions a b < 0;
    versionAtLeast = a: b: builtins.compareVersions a b >= 0;
    getVersion = x: x.version or "0";
    getName = x: x.pname or x.name or "";
    recursiveUpdate = a: b: a // b;
    removeAttrs = builtins.removeAttrs;
    composeExtensions = f: g: final: prev:
      let fApplied = f final prev; prev' = prev // fApplied; in fApplied // g final prev';
    composeManyExtensions = foldr (x: y: composeExtensions x y) (final: prev: { });
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    fakeSha256 = "0000000000000000000000000000000000000000000000000000";
    platforms = { darwin = [ "x86_64-darwin" "aarch64-darwin" ]; linux = [ "x86_64-linux" "aarch64-linux" ]; };
    trivial = { inherit id const flip warn; };
    strings = { inherit hasPrefix hasSuffix concatStringsSep optionalString; };
    lists = { inherit optional optionals foldr reverseList; };
    attrsets = { inherit optionalAttrs genAttrs filterAttrs mapAttrs recursiveUpdate; };
  };

  # A stand-in derivation: enough shape for overlays that only wrap a
  # package lazily; its values are never built.
  pkg = n: rec {
    type = "derivation";
    name = n; pname = n; version = "0";
    outPath = "/stand-in/${n}"; drvPath = "/stand-in/${n}.drv";
    meta = { }; passthru = { };
    overrideAttrs = _: self;
    override = _: self;
    overridePythonAttrs = _: self;
    overrideDerivation = _: self;
    overrideScope = _: self;
    self = pkg n;
  };

  platform = system:
    let
      parts = builtins.match "([^-]+)-(.*)" system;
      cpu = if parts == null then system else builtins.elemAt parts 0;
      kernel = if parts == null then "" else builtins.elemAt parts 1;
    in {
      inherit system;
      config = system;
      isDarwin = kernel == "darwin";
      isLinux = kernel == "linux";
      isAarch64 = cpu == "aarch64";
      isAarch = cpu == "aarch64" || builtins.substring 0 3 cpu == "arm";
      isx86_64 = cpu == "x86_64";
      isi686 = cpu == "i686";
      isx86 = cpu == "x86_64" || cpu == "i686";
      parsed = { cpu = { name = cpu; }; kernel = { name = kernel; }; };
      canExecute = _: true;
    };

  # The stand-in package set for one system: every name the file reads from
  # final/prev is a stand-in package; channels are the set itself.
  pkgSet = system: names:
    let
      p = platform system;
      self =
        listToAttrs (map (n: { name = n; value = pkg n; }) names)
        // {
          inherit lib system;
          hostPlatform = p;
          buildPlatform = p;
          targetPlatform = p;
          stdenv = p // { hostPlatform = p; buildPlatform = p; targetPlatform = p; inherit system; mkDerivation = _: pkg "mkDerivation"; };
          stable = self; unstable = self; patched = self; nixpkgs = self;
          callPackage = _: _: pkg "callPackage";
          fetchpatch = _: pkg "patch";
          fetchpatch2 = _: pkg "patch";
          fetchurl = _: pkg "fetchurl";
          fetchFromGitHub = _: pkg "source";
          applyPatches = _: pkg "patched-source";
          writeShellScriptBin = n: _: pkg n;
          writeShellApplication = a: pkg (a.name or "app");
          symlinkJoin = a: pkg (a.name or "join");
        };
    in self;

  opaqueOverlay = label: final: prev: { __vanixietsOpaque = label; };

  standInInputs = ins:
    builtins.mapAttrs (name: overlays: {
      outPath = "/stand-in/input/${name}";
      overlays = listToAttrs (map (o: { name = o; value = opaqueOverlay "inputs.${name}.overlays.${o}"; }) overlays)
        // { default = opaqueOverlay "inputs.${name}.overlays.default"; };
      overlay = opaqueOverlay "inputs.${name}.overlay";
      packages = { }; legacyPackages = { }; lib = { }; flakeModule = { }; flakeModules = { };
    }) ins;

  evalFile = f:
    let
      m = import f.path;
      args = {
        inherit lib;
        inputs = standInInputs f.inputs;
        self = { outPath = "/stand-in/self"; inputs = standInInputs f.inputs; };
        config = { systems = cfg.systems; nixpkgsOverlays = [ ]; flake = { nixpkgsOverlays = [ ]; }; packages = { }; };
        options = { };
        withSystem = system: fn: fn { config = { packages = { }; }; inherit system; pkgs = pkgSet system f.names; };
        moduleWithSystem = fn: fn { };
        flake-parts-lib = { mkSubmoduleOptions = x: x; mkPerSystemOption = x: x; importApply = p: _: p; };
        getSystem = _: { };
        pkgs = pkgSet (builtins.head cfg.systems) f.names;
        system = builtins.head cfg.systems;
      };
      fa = functionArgs m;
      r = if isFunction m then m (if fa == { } then args else intersectAttrs fa args) else m;
      raw =
        if isAttrs r && r ? flake && isAttrs r.flake && r.flake ? nixpkgsOverlays then { target = "flake.nixpkgsOverlays"; def = r.flake.nixpkgsOverlays; }
        else if isAttrs r && r ? nixpkgsOverlays then { target = "nixpkgsOverlays"; def = r.nixpkgsOverlays; }
        else { target = ""; def = [ ]; };
      unwrap = d:
        if isAttrs d && (d._type or "") == "order" then { priority = d.priority; list = (unwrap d.content).list; }
        else if isAttrs d && (d._type or "") == "if" then { priority = 1000; list = if d.condition then (unwrap d.content).list else [ ]; }
        else if isAttrs d && (d._type or "") == "override" then unwrap d.content
        else if isAttrs d && (d._type or "") == "merge" then { priority = 1000; list = builtins.concatLists (map (x: (unwrap x).list) d.contents); }
        else { priority = 1000; list = if isList d then d else [ d ]; };
      u = unwrap raw.def;
      first = builtins.head cfg.systems;
      one = o:
        if !(isFunction o) then { kind = "not-function"; }
        else
          let p0 = pkgSet first f.names; o1 = o p0; in
          if !(isFunction o1) then { kind = "one-arg"; }
          else
            let
              r0 = o1 p0;
            in
            if !(isAttrs r0) then { kind = "not-attrs"; }
            else if r0 ? __vanixietsOpaque then { kind = "opaque"; ref = r0.__vanixietsOpaque; }
            else {
              kind = "ok";
              systems = listToAttrs (map (s:
                let
                  ps = pkgSet s f.names;
                  t = tryEval (attrNames (o ps ps));
                  res = o ps ps;
                in {
                  name = s;
                  value =
                    if !t.success then { error = true; entries = [ ]; }
                    else {
                      error = false;
                      entries = map (n:
                        let pos = unsafeGetAttrPos n res; in
                        [ n (if pos == null then 0 else pos.line) (if pos == null then "" else toString pos.file) ]) t.value;
                    };
                }) cfg.systems);
            };
    in {
      inherit (f) path;
      inherit (raw) target;
      inherit (u) priority;
      overlays = map one u.list;
    };
in
map evalFile cfg.files
