{ writeShellScriptBin }: writeShellScriptBin "hello-lab" "echo hello"
