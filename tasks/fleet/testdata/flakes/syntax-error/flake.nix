{
  outputs = { self }: {
    fleet = { machines = { }
  };
}
