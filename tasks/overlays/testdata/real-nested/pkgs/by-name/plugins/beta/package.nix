{ writeShellScriptBin }: writeShellScriptBin "beta" "echo beta"
