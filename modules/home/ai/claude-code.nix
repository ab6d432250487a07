# AI tooling, part 1 of the `ai` aggregate: Claude Code. Every file in
# modules/home/ai/ defines flake.modules.homeManager.ai; flake-parts merges
# them, so a machine (or user) importing `ai` gets all of them, and adding
# a tool to every machine is one new file here.
{
  flake.modules.homeManager.ai =
    { pkgs, ... }:
    {
      home.packages = [ pkgs.claude-code ];
      home.sessionVariables.CLAUDE_CODE_DISABLE_TELEMETRY = "1";
    };
}
