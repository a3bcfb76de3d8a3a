module nimbus/goprog

go 1.19
