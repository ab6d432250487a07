import ./channel.nix "1"
