# The user's fleet: four nix-darwin laptops (stibnite, blackphos, argentum,
# rosegold) and four NixOS servers (cinnabar and electrum on Hetzner, galena
# and scheelite on GCP), in the dendritic flake-parts layout.
#
# This file only names the inputs and hands ./modules to import-tree: every
# .nix file under modules/ is a flake-parts module and is imported
# automatically, except
#   - paths with a component starting with "_" (import-tree's own rule), such
#     as modules/_fleet/ (the fleet's plain data, imported by the modules and
#     by the lab flake) and helper files like _users.nix;
#   - modules/nixpkgs/pkgs/by-name/ (callPackage files, not modules; the
#     pkgs-by-name-for-flake-parts module reads them as packages).
# Nothing outside modules/ is auto-imported.
#
# There is no flake.lock in the repository: the machine this suite is built
# on has no network, so no input could be fetched and locked honestly. The
# first `nix flake lock` (or any nix command on this flake) with network
# access writes it; commit it then. See docs/real-fleet.md.
{
  description = "vanixiets: the real fleet (nix-darwin laptops, NixOS servers on Hetzner and GCP)";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixpkgs-unstable";
    # per-platform stable channels, for Layer 1/2 of the overlays (pkgs.stable)
    nixpkgs-darwin-stable.url = "github:NixOS/nixpkgs/nixpkgs-25.05-darwin";
    nixpkgs-linux-stable.url = "github:NixOS/nixpkgs/nixos-25.05";

    flake-parts.url = "github:hercules-ci/flake-parts";
    flake-parts.inputs.nixpkgs-lib.follows = "nixpkgs";

    import-tree.url = "github:vic/import-tree";

    nix-darwin.url = "github:nix-darwin/nix-darwin";
    nix-darwin.inputs.nixpkgs.follows = "nixpkgs";

    home-manager.url = "github:nix-community/home-manager";
    home-manager.inputs.nixpkgs.follows = "nixpkgs";

    clan-core.url = "git+https://git.clan.lol/clan/clan-core";
    clan-core.inputs.nixpkgs.follows = "nixpkgs";
    clan-core.inputs.flake-parts.follows = "flake-parts";
    clan-core.inputs.nix-darwin.follows = "nix-darwin";

    terranix.url = "github:terranix/terranix";
    terranix.inputs.nixpkgs.follows = "nixpkgs";
    terranix.inputs.flake-parts.follows = "flake-parts";

    sops-nix.url = "github:Mic92/sops-nix";
    sops-nix.inputs.nixpkgs.follows = "nixpkgs";

    pkgs-by-name-for-flake-parts.url = "github:drupol/pkgs-by-name-for-flake-parts";

    # external overlays (Layer 5, modules/nixpkgs/overlays/{nuenv,nvim-treesitter}.nix)
    nuenv.url = "github:hallettj/nuenv/writeShellApplication";
    nuenv.inputs.nixpkgs.follows = "nixpkgs";
    nvim-treesitter-main.url = "github:iofq/nvim-treesitter-main";
    nvim-treesitter-main.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs =
    inputs:
    inputs.flake-parts.lib.mkFlake { inherit inputs; } (
      (inputs.import-tree.filterNot (inputs.nixpkgs.lib.hasInfix "/pkgs/by-name/")) ./modules
    );
}
