# AI tooling, part 2 of the `ai` aggregate: the MCP servers the assistants
# may start, written once as JSON for every user that imports `ai`.
{
  flake.modules.homeManager.ai =
    { pkgs, ... }:
    {
      home.file.".mcp.json".text = builtins.toJSON {
        mcpServers = {
          nixos = {
            command = "${pkgs.mcp-nixos}/bin/mcp-nixos";
            args = [ ];
          };
        };
      };
    };
}
