module berth/gateway

go 1.19
