{ writeShellScriptBin }: writeShellScriptBin "alpha" "echo alpha"
