// Starts a VM and waits for the event saying it runs (oVirtCmd's event_waiter):
//   berth eval samples/berth/wait-start.mjs web01
//   berth eval -v vm web01 -v timeout 300 samples/berth/wait-start.mjs
// The waiter takes the event position, starts the VM inside its body, then waits until an
// event shows the VM's power_state becoming Running, stopping early if it is seen halting.
export default async function ({ context, variables, args, eventWaiter, print }) {
  const vm = await context.vms.get(args[0] ?? variables.vm);
  const events = [];
  const { brokeOn } = await eventWaiter(
    context,
    vm,
    events,
    {
      waitFor: ['vm.power_state=Running'],
      breakOn: ['vm.power_state=Halted'],
      timeout: Number(variables.timeout ?? 120),
      verbose: true,
    },
    () => vm.start(false, false),
  );
  if (brokeOn) {
    print(`${vm.name} halted while starting`);
    return 1;
  }
  await vm.refresh();
  print(`${vm.name} is ${vm.power_state} on ${(await vm.follow('resident_on')).name}`);
  return 0;
}
