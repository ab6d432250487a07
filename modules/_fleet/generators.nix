# clan vars generator declarations as plain data. `common` is declared on
# every machine, `nixos` / `darwin` on the machines of that class. Missing
# file attributes take clan's defaults (secret = true, deploy = true,
# owner/group root, mode 0400, neededFor "services"); the flake fills them in
# when it renders the `fleet` output.
#
# Scripts run with $in (dependencies' outputs as $in/<generator>/<file>),
# $out (write each declared file there) and $prompts (one file per prompt),
# and use only sh, coreutils, ssh-keygen and /dev/urandom, so the suite can run
# them anywhere without Nix.
{
  common = {
    openssh = {
      files."ssh.id_ed25519" = { secret = true; neededFor = "services"; };
      files."ssh.id_ed25519.pub" = { secret = false; mode = "0444"; };
      script = ''
        ssh-keygen -q -t ed25519 -N "" -C "" -f "$out/ssh.id_ed25519"
      '';
    };
    # depends on openssh: reads the public host key from $in
    openssh-fingerprint = {
      dependencies = [ "openssh" ];
      files."ssh.fingerprint" = { secret = false; mode = "0444"; };
      script = ''
        ssh-keygen -l -E sha256 -f "$in/openssh/ssh.id_ed25519.pub" | cut -d' ' -f2 > "$out/ssh.fingerprint"
      '';
    };
    zerotier = {
      files."zerotier-identity-secret" = { secret = true; neededFor = "services"; };
      files."zerotier-ip" = { secret = false; mode = "0444"; };
      script = ''
        set -- $(head -c 5 /dev/urandom | od -An -tx1)
        addr="$1$2$3$4$5"
        key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
        printf '%s:0:%s\n' "$addr" "$key" > "$out/zerotier-identity-secret"
        printf 'fd00:%s%s:%s%s:%s::1\n' "$1" "$2" "$3" "$4" "$5" > "$out/zerotier-ip"
      '';
    };
  };
  nixos = {
    # one root password for every NixOS server, stored once (share = true)
    admin-password = {
      share = true;
      prompts."admin-password" = {
        description = "root password of the NixOS servers (empty: generate one)";
        type = "hidden";
        persist = false;
      };
      files."admin-password" = { secret = true; neededFor = "users"; };
      script = ''
        if [ -s "$prompts/admin-password" ]; then
          tr -d '\n' < "$prompts/admin-password" > "$out/admin-password"
        else
          head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$out/admin-password"
        fi
      '';
      validation = { length = "prompt-or-36-hex"; };
    };
  };
  darwin = { };
}
