"""codeprm.sandbox"""
