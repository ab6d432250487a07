# The fleet's users as plain data. ageKeys are the recipients of the secrets
# of every machine the user administers (see instances.nix for who is admin
# where). The keys below are the lab's TEST-ONLY identities
# (lab/keys/<user>.agekey); the real fleet replaces them with the users' keys.
{
  crs58 = {
    description = "global admin on stibnite and blackphos";
    ageKeys = [ "age16z6s8w7zv3x0ffk2ffltuvgwhnhzs48p5wn5z7jreaft4yvzafpqq29d53" ];
  };
  cameron = {
    description = "admin alias on new machines";
    ageKeys = [ "age14rl54er5td8pt7hm4leq4qjrungg42kc6cnqu374r5nmu4rt6grsapsjaf" ];
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
