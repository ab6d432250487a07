# Offline evaluation of the real fleet's flake.nix and modules/, with no
# flake input and no nixpkgs, for the structure tests of tasks/realfleet.
#
# The real flake needs its inputs (flake-parts, clan-core, nixpkgs, ...) from
# the network. What does not need them is how the repository is put
# together, and that is what this file evaluates, with builtins only:
#
#   1. flake.nix's outputs function, called with stand-in inputs: which
#      directories it hands to import-tree and which filters it adds.
#   2. the files import-tree would import (its own "/_" rule plus the
#      flake's filters, applied to the candidate paths the Go side lists).
#   3. every such file as a flake-parts module, called with stand-in module
#      arguments inside a small fixpoint of the module system: definitions
#      merge by path (attribute sets recursively, lists concatenated in
#      mkOrder order, mkIf/mkMerge/mkDefault/mkForce honoured, mkIf pushed
#      down like the real module system does), option declarations are
#      skipped, and flake.modules.<class>.<name> collects its definitions
#      as one aggregate module { key; imports }.
#   4. from the merged config: the namespace exports, the clan registry (what
#      each clan.machines entry imports), the `fleet` output, and the
#      terranix modules evaluated the same way (which servers exist).
#
# It is a stand-in, not the module system: types, option declarations and
# the inputs' own modules (clan-core, home-manager, nix-darwin, terranix) are
# not checked here. That needs the network (docs/real-fleet.md).
#
# input (JSON): { root = "/abs/repo"; candidates = [ "/clan/core.nix" ... ];
#                 machines = { <m> = "<class>"; } }   # for registry placeholders
{ input }:
let
  cfg = builtins.fromJSON input;
  root = /. + cfg.root;
  modulesDir = root + "/modules";

  inherit (builtins)
    attrNames attrValues isAttrs isList isFunction isString isPath filter map
    concatMap listToAttrs functionArgs intersectAttrs zipAttrsWith all any elem
    length head sort tryEval substring stringLength;

  # ---------------------------------------------------------------- lib
  lib = rec {
    mkOrder = priority: content: { _type = "order"; inherit priority content; };
    mkBefore = mkOrder 500;
    mkAfter = mkOrder 1500;
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    mkOverride = priority: content: { _type = "override"; inherit priority content; };
    mkDefault = mkOverride 1000;
    mkOptionDefault = mkOverride 1500;
    mkForce = mkOverride 50;
    mkOption = o: { _type = "option"; } // o;
    mkEnableOption = d: mkOption { default = false; description = d; };
    types =
      let t = name: { _type = "type"; inherit name; }; f = name: _: t name; in
      {
        bool = t "bool"; str = t "str"; int = t "int"; raw = t "raw"; anything = t "anything";
        unspecified = t "unspecified"; package = t "package"; path = t "path";
        deferredModule = t "deferredModule"; lines = t "lines";
        enum = f "enum"; attrsOf = f "attrsOf"; lazyAttrsOf = f "lazyAttrsOf";
        listOf = f "listOf"; nullOr = f "nullOr"; submodule = f "submodule";
        submoduleWith = f "submoduleWith"; oneOf = f "oneOf"; either = _: f "either";
      };
    id = x: x;
    const = x: _: x;
    warn = _: x: x;
    inherit (builtins) attrNames attrValues mapAttrs listToAttrs elem filter head
      concatLists concatStringsSep removeAttrs foldl' length;
    optional = c: x: if c then [ x ] else [ ];
    optionals = c: l: if c then l else [ ];
    optionalAttrs = c: s: if c then s else { };
    optionalString = c: s: if c then s else "";
    filterAttrs = p: s: listToAttrs (map (n: { name = n; value = s.${n}; }) (filter (n: p n s.${n}) (attrNames s)));
    genAttrs = names: f: listToAttrs (map (n: { name = n; value = f n; }) names);
    nameValuePair = name: value: { inherit name value; };
    mapAttrs' = f: s: listToAttrs (map (n: f n s.${n}) (attrNames s));
    mapAttrsToList = f: s: map (n: f n s.${n}) (attrNames s);
    subtractLists = e: filter (x: !(elem x e));
    unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
    hasPrefix = p: s: substring 0 (stringLength p) s == p;
    hasSuffix = p: s: let n = stringLength s; m = stringLength p; in n >= m && substring (n - m) m s == p;
    hasInfix = infix: s:
      let n = stringLength s; m = stringLength infix;
          go = i: i + m <= n && (substring i m s == infix || go (i + 1));
      in go 0;
    escapeShellArg = s: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";
    recursiveUpdate = a: b: a // b;
    foldr = op: nul: l: foldl' (acc: x: op x acc) nul (builtins.genList (i: builtins.elemAt l (length l - i - 1)) (length l));
    composeExtensions = f: g: final: prev:
      let fa = f final prev; in fa // g final (prev // fa);
    composeManyExtensions = foldr (x: y: composeExtensions x y) (final: prev: { });
    isDerivation = x: isAttrs x && (x.type or null) == "derivation";
  };

  # ------------------------------------------------------------ inputs
  opaque = label: { __opaque = label; };
  standInInput = name: {
    outPath = "/stand-in/${name}";
    _type = "flake";
    flakeModule = opaque "inputs.${name}.flakeModule";
    flakeModules = { default = opaque "inputs.${name}.flakeModules.default"; modules = opaque "inputs.${name}.flakeModules.modules"; };
    nixosModules = { default = opaque "inputs.${name}.nixosModules.default"; home-manager = opaque "inputs.${name}.nixosModules.home-manager"; };
    darwinModules = { default = opaque "inputs.${name}.darwinModules.default"; home-manager = opaque "inputs.${name}.darwinModules.home-manager"; };
    homeManagerModules = { default = opaque "inputs.${name}.homeManagerModules.default"; sops = opaque "inputs.${name}.homeManagerModules.sops"; };
    overlays = { default = opaque "inputs.${name}.overlays.default"; nuenv = opaque "inputs.${name}.overlays.nuenv"; };
    lib = lib // {
      terranixConfiguration = args: { type = "derivation"; name = "config.tf.json"; __terranix = args; };
    };
    packages = { };
    legacyPackages = { };
  };

  flakeNix = import (root + "/flake.nix");
  inputNames = attrNames (flakeNix.inputs or { });

  # import-tree stand-in: records the filters and the paths it is called on.
  mkTree = keep: {
    __functor = _: path: { __importTree = { inherit keep; paths = if isList path then path else [ path ]; }; };
    filter = f: mkTree (keep ++ [ f ]);
    filterNot = f: mkTree (keep ++ [ (p: !(f p)) ]);
    match = re: mkTree (keep ++ [ (p: builtins.match re p != null) ]);
    matchNot = re: mkTree (keep ++ [ (p: builtins.match re p == null) ]);
    addPath = _: mkTree keep;
  };

  flakeInputs =
    listToAttrs (map (n: { name = n; value = standInInput n; }) inputNames)
    // {
      self = standInInput "self";
      flake-parts = standInInput "flake-parts" // {
        lib = lib // { mkFlake = args: top: { __mkFlake = { inherit args top; }; }; };
      };
      import-tree = standInInput "import-tree" // mkTree [ ];
    };

  flakeOut = flakeNix.outputs flakeInputs;
  top = flakeOut.__mkFlake.top or null;
  topParts = if top == null then [ ] else if top ? __importTree then [ top ] else (top.imports or [ ]);
  trees = map (t: t.__importTree) (filter (t: isAttrs t && t ? __importTree) topParts);
  rel = p: let s = toString p; r = toString root; in
    if lib.hasPrefix r s then substring (stringLength r) (stringLength s) s else s;
  treePaths = concatMap (t: map rel t.paths) trees;
  extraImports = map (x: if isPath x || isString x then rel x else "<${builtins.typeOf x}>")
    (filter (t: !(isAttrs t && t ? __importTree)) topParts);
  keeps = concatMap (t: t.keep) trees;

  # import-tree: only .nix files, never a path with a "/_" component, then
  # the flake's own filters, all on the path relative to the tree root.
  selected = filter
    (p: lib.hasSuffix ".nix" p && !(lib.hasInfix "/_" p) && all (k: k p) keeps)
    cfg.candidates;

  # ------------------------------------------------------- module eval
  namespacePath = path: length path == 4 && builtins.elemAt path 0 == "flake" && builtins.elemAt path 1 == "modules";

  # An attribute-set view of one definition, with mkIf/mkDefault/mkMerge
  # pushed into its attributes, or null when it is a leaf.
  pushDown = v:
    if !(isAttrs v) then null
    else if v ? _type then
      if v._type == "if" then
        let c = pushDown v.content; in
        if c == null then null else builtins.mapAttrs (_: x: { _type = "if"; condition = v.condition; content = x; }) c
      else if v._type == "override" then
        let c = pushDown v.content; in
        if c == null then null else builtins.mapAttrs (_: x: { _type = "override"; priority = v.priority; content = x; }) c
      else if v._type == "merge" then
        let cs = map pushDown v.contents; in
        if any (c: c == null) cs then null else zipAttrsWith (_: xs: { _type = "merge"; contents = xs; }) cs
      else null
    else if lib.isDerivation v || v ? __opaque || v ? __functor then null
    else v;

  # The definitions of a leaf, conditions decided, with their priorities.
  props = v:
    if isAttrs v && v ? _type then
      if v._type == "if" then (if v.condition then props v.content else [ ])
      else if v._type == "merge" then concatMap props v.contents
      else if v._type == "override" then map (d: d // { prio = v.priority; }) (props v.content)
      else if v._type == "order" then map (d: d // { ord = v.priority; }) (props v.content)
      else [ { prio = 100; ord = 1000; value = v; } ]
    else [ { prio = 100; ord = 1000; value = v; } ];

  leaf = defs:
    let
      ds = concatMap props defs;
      best = builtins.foldl' (m: d: if d.prio < m then d.prio else m) 9999 ds;
      top' = filter (d: d.prio == best) ds;
    in
    if ds == [ ] then null
    else if all (d: isList d.value) ds then
      concatMap (d: d.value) (sort (a: b: a.ord < b.ord) ds)
    else (head top').value;

  merge = path: defs:
    if namespacePath path then
      { key = "flake.modules.${builtins.elemAt path 2}.${builtins.elemAt path 3}"; imports = defs; }
    else
      let views = map pushDown defs; in
      if defs != [ ] && all (v: v != null) views then
        zipAttrsWith (n: vs: merge (path ++ [ n ]) vs) views
      else leaf defs;

  call = args: m:
    let
      f = if isPath m || isString m then import m else m;
      fa = if isFunction f then functionArgs f else { };
    in
    if isFunction f then f (if fa == { } then args else intersectAttrs fa args) else f;

  # definitions of a module result: its `config` when it uses the
  # options/config form, else everything but the module-system keys.
  defsOf = r:
    if !(isAttrs r) then { }
    else if r ? config || r ? options then (r.config or { })
    else removeAttrs r [ "imports" "options" "_file" "key" "_class" "disabledModules" ];

  withSystem = system: fn: fn { config = { packages = { }; }; inherit system; };
  moduleArgs = {
    inherit lib config withSystem;
    inputs = flakeInputs;
    self = flakeInputs.self;
    options = { };
    moduleWithSystem = fn: fn { };
    getSystem = _: { };
    flake-parts-lib = { mkSubmoduleOptions = x: x; mkPerSystemOption = x: x; importApply = p: _: p; };
  };

  # callPackage files are never evaluated as modules (Check reports their
  # selection instead of failing on their arguments).
  results = map (f: { file = "modules${f}"; value = call moduleArgs (modulesDir + f); })
    (filter (f: !(lib.hasInfix "/pkgs/by-name/" f)) selected);
  merged = merge [ ] (map (r: defsOf r.value) results);

  # Registry placeholders: clan.machines.<m> may name a namespace nobody
  # exports; a marker keeps the evaluation going so the test can say which.
  # Every machine gets one under both classes, so a registry entry that
  # imports the wrong class is reported too.
  placeholders = lib.genAttrs [ "nixos" "darwin" ] (c:
    listToAttrs (map (m: { name = "machines/${c}/${m}"; value = { key = "missing:flake.modules.${c}.machines/${c}/${m}"; }; }) (attrNames cfg.machines)));
  namespaces = (merged.flake or { }).modules or { };
  config = merged // {
    flake = (merged.flake or { }) // {
      modules = builtins.mapAttrs (c: _:
        builtins.mapAttrs (n: v: if isAttrs v && v ? key && lib.hasPrefix "missing:" v.key then { key = "missing:flake.modules.${c}.${n}"; } else v)
          ((placeholders.${c} or { }) // (namespaces.${c} or { })))
        (placeholders // namespaces);
    };
  };

  # ----------------------------------------------------------- reports
  knownTop = [ "flake" "perSystem" "imports" "options" "config" "systems" "clan" "cloud" "fleetLib" "_file" "key" "_class" ];
  exportsOf = r:
    let mods = ((defsOf r).flake or { }).modules or { }; in
    if !(isAttrs mods) then [ ] else concatMap (c: map (n: "${c}.${n}") (attrNames mods.${c})) (attrNames mods);
  fileReport = x:
    let
      r = x.value;
      d = defsOf r;
      fl = d.flake or { };
    in
    {
      inherit (x) file;
      shape = if isAttrs r then "attrs" else builtins.typeOf r;
      keys = if isAttrs r then attrNames r else [ ];
      defines = if isAttrs r then attrNames d else [ ];
      exports = if isAttrs r then exportsOf r else [ ];
      outputs = if isAttrs fl then filter (n: n != "modules") (attrNames fl) else [ ];
      options = if isAttrs r && r ? options then attrNames r.options else [ ];
      imports = if isAttrs r then length (r.imports or [ ]) else 0;
    };

  keyOf = m: if isAttrs m && m ? key then m.key else if isAttrs m && m ? __opaque then m.__opaque else "<${builtins.typeOf m}>";
  registry = builtins.mapAttrs (_: e: map keyOf (e.imports or [ ])) ((merged.clan or { }).machines or { });

  # terranix: the three modules of packages.terraform, in the same fixpoint.
  flatten = args: m:
    let r = call args m; in
    if isAttrs m && m ? __opaque then [ ]
    else [ (defsOf r) ] ++ concatMap (flatten args) (if isAttrs r then r.imports or [ ] else [ ]);
  terranixNames = [ "base" "hetzner" "gcp" ];
  tfArgs = { lib = lib; config = tfConfig; pkgs = { }; };
  tfConfig = merge [ ] (concatMap (n: flatten tfArgs (namespaces.terranix.${n} or { })) terranixNames);
  namesOr = s: if isAttrs s then attrNames s else [ ];

  perSystemX86 =
    let
      sys = "x86_64-linux";
      args = { inherit lib; system = sys; pkgs = { }; config = { }; self' = { packages = { }; }; inputs' = { }; };
      defs = concatMap (x: let d = defsOf x.value; in if d ? perSystem then [ (defsOf (call args d.perSystem)) ] else [ ]) results;
      m = merge [ ] defs;
    in
    { packages = namesOr (m.packages or { }); checks = namesOr (m.checks or { }); };
in
{
  flake = {
    mkFlake = flakeOut ? __mkFlake;
    mkFlakeInputs = (flakeOut.__mkFlake.args or { }) ? inputs;
    inherit treePaths extraImports;
    inputs = inputNames;
  };
  inherit selected registry;
  files = map fileReport results;
  knownKeys = knownTop;
  namespaces = builtins.mapAttrs (_: attrNames) namespaces;
  fleet = (merged.flake or { }).fleet or null;
  terraform = {
    hcloud_server = namesOr ((tfConfig.resource or { }).hcloud_server or { });
    google_compute_instance = namesOr ((tfConfig.resource or { }).google_compute_instance or { });
    output = namesOr (tfConfig.output or { });
    machines = builtins.mapAttrs (_: m: m.enabled) (tfConfig.machines or { });
  };
  perSystem = perSystemX86;
}
