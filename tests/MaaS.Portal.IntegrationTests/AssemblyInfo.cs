// Each test host runs a Hangfire server and Hangfire keeps some global state; on two cores, hosts one at a time
// are also faster than many competing.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
