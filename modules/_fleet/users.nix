# The fleet's users as plain data. ageKeys are the recipients of the secrets
# of every machine the user administers (see instances.nix for who is admin
# where).
#
# The admins' keys are PLACEHOLDERS until you put in your own: the suite
# refuses to encrypt anything to them, with a message saying how to set
# them. Make a key with `age-keygen -o ~/.config/sops/age/keys.txt` and put
# the public key that `age-keygen -y ~/.config/sops/age/keys.txt` prints
# (age1...) in place of the placeholder. Never use the lab's keys
# (lab/keys/*.agekey) here: their private halves are committed, so anything
# encrypted to them is readable by whoever has the repository, and the
# suite refuses them outside the lab for that reason. The lab flake gives
# the same users those test keys itself (lab/flake.nix).
{
  crs58 = {
    description = "global admin on stibnite and blackphos";
    ageKeys = [ "PLACEHOLDER-crs58: replace with crs58's own age public key (age-keygen -y)" ];
  };
  cameron = {
    description = "admin alias on new machines";
    ageKeys = [ "PLACEHOLDER-cameron: replace with cameron's own age public key (age-keygen -y)" ];
  };
  raquel = {
    description = "primary user on blackphos";
    ageKeys = [ ];
  };
  christophersmith = {
    description = "primary user on argentum";
    ageKeys = [ ];
  };
  janettesmith = {
    description = "primary user on rosegold";
    ageKeys = [ ];
  };
}
