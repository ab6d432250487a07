{ writeShellScriptBin }: writeShellScriptBin "notes-sync" "echo sync"
