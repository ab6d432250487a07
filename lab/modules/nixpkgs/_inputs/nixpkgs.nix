import ./channel.nix "2"
