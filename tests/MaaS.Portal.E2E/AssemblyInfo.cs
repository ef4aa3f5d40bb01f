// One portal and one browser serve every test here; running them one at a time keeps two cores responsive.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
