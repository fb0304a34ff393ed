int cmd_net_stub;
