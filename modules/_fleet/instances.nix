# clan inventory instances as plain data: the ZeroTier network (controller on
# cinnabar, peers on every other machine) and one "users" instance per user.
# A user's machines are the role's machines plus those carrying one of its
# tags ("all" matches every machine).
{
  zerotier = {
    module.name = "zerotier";
    roles.controller.machines.cinnabar = { };
    roles.peer.machines = {
      electrum = { };
      galena = { };
      scheelite = { };
      stibnite = { };
      blackphos = { };
      argentum = { };
      rosegold = { };
    };
  };
  user-crs58 = {
    module.name = "users";
    roles.default = {
      machines = { stibnite = { }; blackphos = { }; };
      settings = { user = "crs58"; admin = true; };
    };
  };
  user-cameron = {
    module.name = "users";
    roles.default = {
      # the servers through their tag, the newer laptops by name
      tags.server = { };
      machines = { argentum = { }; rosegold = { }; };
      settings = { user = "cameron"; admin = true; };
    };
  };
  user-raquel = {
    module.name = "users";
    roles.default = {
      machines.blackphos = { };
      settings = { user = "raquel"; admin = false; };
    };
  };
  user-christophersmith = {
    module.name = "users";
    roles.default = {
      machines.argentum = { };
      settings = { user = "christophersmith"; admin = false; };
    };
  };
  user-janettesmith = {
    module.name = "users";
    roles.default = {
      machines.rosegold = { };
      settings = { user = "janettesmith"; admin = false; };
    };
  };
}
